"""POST /fhir/r4/ with a transaction Bundle: all or nothing, matched by identifier,
through the REST API's own validation."""

import copy

import pghistory.models
from django.apps import apps

from followup.fhir import codes
from imaging.models import Finding, ImagingExam
from patients.models import Patient, PatientIdentifier, Surgery

from .conftest import fhir_get, fhir_post, transaction, valid

TABLES = (Patient, PatientIdentifier, Surgery, ImagingExam, Finding)


def export(persona, patient_id: int) -> dict:
    """A patient's Patient, Procedure, ImagingStudy and DiagnosticReport resources, read
    from the server as an integration would, sent back as a transaction Bundle."""
    resources = [fhir_get(persona, f"/fhir/r4/Patient/{patient_id}")]
    urls = [f"http://testserver/fhir/r4/Patient/{patient_id}"]
    for resource_type in ("Procedure", "ImagingStudy", "DiagnosticReport"):
        bundle = fhir_get(persona, f"/fhir/r4/{resource_type}?patient={patient_id}")
        for entry in bundle["entry"]:
            resources.append(entry["resource"])
            urls.append(entry["fullUrl"])
    return valid(transaction(*resources, full_urls=urls))


def imported(persona, bundle: dict) -> dict:
    response = fhir_post(persona, "/fhir/r4/", bundle)
    assert response.status_code == 200, response.content
    answer = valid(response.json())
    assert answer["type"] == "transaction-response"
    return answer


def refused(persona, bundle: dict) -> list[dict]:
    response = fhir_post(persona, "/fhir/r4/", bundle)
    assert response.status_code == 400, response.content
    outcome = valid(response.json())
    assert outcome["resourceType"] == "OperationOutcome"
    return outcome["issue"]


def state() -> dict:
    """Every row the import may touch, and every audit event: what 'changes nothing' means."""
    rows = {model.__name__: list(model.objects.order_by("pk").values()) for model in TABLES}
    events = [m for m in apps.get_models() if issubclass(m, pghistory.models.Event)]
    rows["events"] = {m.__name__: m.objects.count() for m in events}
    return rows


def record_of(patient: Patient) -> dict:
    """A patient's record without ids, to compare across clinics."""
    surgeries = {s.pk: (s.procedure, s.performed_at) for s in patient.surgeries.all()}
    return {
        "patient": (
            patient.mrn,
            patient.family_name,
            patient.given_name,
            patient.birth_date,
            patient.sex,
            patient.transitional_variant,
            patient.vertebral_numbering,
        ),
        "external_ids": {(i.system, i.value) for i in patient.external_ids.all()},
        "surgeries": sorted(
            (s.procedure, s.performed_at, s.levels, s.hardware, s.approach, s.surgeon, s.notes)
            for s in patient.surgeries.all()
        ),
        "exams": sorted(
            (
                e.accession_number,
                e.modality,
                e.contrast,
                e.performed_at,
                e.views,
                e.study_instance_uid,
                e.effective_dose_msv,
                e.report,
                surgeries.get(e.surgery_id),
            )
            for e in patient.exams.all()
        ),
    }


def test_round_trip_into_another_clinic(integration_a, integration_b, record):
    bundle = export(integration_a, record["patient"].pk)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == [
        "Patient",
        "Procedure",
        "ImagingStudy",
        "ImagingStudy",
        "DiagnosticReport",
        "DiagnosticReport",
    ]
    answer = imported(integration_b, bundle)
    statuses = [e["response"]["status"] for e in answer["entry"]]
    # Each exam is created by its ImagingStudy; its DiagnosticReport adds the report.
    assert statuses[:4] == ["201 Created"] * 4
    copied = Patient.objects.get(clinic=integration_b.clinic)
    assert answer["entry"][0]["response"]["location"] == f"Patient/{copied.pk}"
    assert record_of(copied) == record_of(record["patient"])
    assert copied.exams.get(modality="XR").surgery == copied.surgeries.get()
    assert Patient.objects.filter(clinic=integration_a.clinic).count() == 1


def test_sending_it_twice_changes_nothing(integration_a, integration_b, record):
    bundle = export(integration_a, record["patient"].pk)
    imported(integration_b, bundle)
    before = state()
    answer = imported(integration_b, copy.deepcopy(bundle))
    assert state() == before
    assert {e["response"]["status"] for e in answer["entry"]} == {"200 OK"}
    assert all(
        "unchanged" in e["response"]["outcome"]["issue"][0]["diagnostics"] for e in answer["entry"]
    )


def test_importing_a_clinics_own_export_changes_nothing(integration_a, record):
    before = state()
    imported(integration_a, export(integration_a, record["patient"].pk))
    assert state() == before


def test_a_changed_value_updates_the_matched_rows(integration_a, integration_b, record):
    bundle = export(integration_a, record["patient"].pk)
    imported(integration_b, bundle)
    patient_entry, report_entry = bundle["entry"][0], bundle["entry"][4]
    patient_entry["resource"]["name"][0]["family"] = "Renamed"
    report_entry["resource"]["conclusion"] = "Amended: complete bridging."
    answer = imported(integration_b, bundle)
    assert answer["entry"][0]["response"]["status"] == "200 OK"
    copied = Patient.objects.get(clinic=integration_b.clinic)
    assert copied.family_name == "Renamed"
    assert copied.exams.filter(report="Amended: complete bridging.").count() == 1
    assert copied.exams.count() == 2
    assert copied.surgeries.count() == 1


def test_a_refused_entry_refuses_the_bundle_and_writes_nothing(
    integration_a, integration_b, record
):
    bundle = export(integration_a, record["patient"].pk)
    procedure = bundle["entry"][1]["resource"]
    procedure["code"] = {
        "coding": [
            {"system": "http://snomed.info/sct", "code": "80146002", "display": "Appendectomy"}
        ]
    }
    before = state()
    issues = refused(integration_b, bundle)
    assert state() == before
    assert issues[0]["expression"] == ["Bundle.entry[1].resource.code"]
    assert issues[0]["diagnostics"].startswith("Bundle.entry[1] (Procedure ")
    assert "80146002" in issues[0]["diagnostics"]


def test_the_rest_apis_rules_apply(integration_b):
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Doe"}],
        "gender": "female",
        "identifier": [codes.mrn_identifier("M1")],
        "birthDate": "2999-01-01",
    }
    surgery = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": codes.PROCEDURE, "code": "tlif"}]},
        "subject": {"reference": "urn:uuid:entry-0"},
        "performedDateTime": "2025-02-01T09:00:00+01:00",
        "bodySite": [{"coding": [{"system": codes.SPINAL_LEVEL, "code": "L9-L4"}]}],
    }
    issues = refused(integration_b, transaction(patient, surgery))
    assert issues[0]["expression"] == ["Bundle.entry[0].resource.birthDate"]
    assert "future" in issues[0]["diagnostics"]
    assert issues[1]["expression"] == ["Bundle.entry[1].resource.subject"]
    assert "refused" in issues[1]["diagnostics"]
    patient["birthDate"] = "1970-01-01"
    issues = refused(integration_b, transaction(patient, surgery))
    assert [i["expression"] for i in issues] == [["Bundle.entry[1].resource.bodySite"]]
    assert "is not a spinal level" in issues[0]["diagnostics"]
    assert Patient.objects.count() == 0


def test_a_resource_that_is_not_valid_fhir_is_refused_before_anything_else(integration_b):
    patient = {
        "resourceType": "Patient",
        "birthDate": "1970-13-01",
        "colour": "blue",
        "identifier": [codes.mrn_identifier("M1")],
        "name": [{"family": "Doe"}],
    }
    issues = refused(integration_b, transaction(patient))
    assert {tuple(i["expression"]) for i in issues} == {
        ("Bundle.entry[0].resource.birthDate",),
        ("Bundle.entry[0].resource.colour",),
    }
    assert {i["code"] for i in issues} == {"structure"}


def test_only_a_transaction_of_the_four_types(integration_b):
    assert (
        "transaction"
        in refused(integration_b, {"resourceType": "Bundle", "type": "batch"})[0]["diagnostics"]
    )
    flag = {
        "resourceType": "Flag",
        "status": "active",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/1"},
    }
    issues = refused(integration_b, transaction(flag))
    assert issues[0]["code"] == "not-supported"
    deleting = transaction({"resourceType": "Patient"})
    deleting["entry"][0]["request"] = {"method": "DELETE", "url": "Patient/1"}
    assert refused(integration_b, deleting)[0]["code"] == "not-supported"


def test_a_patient_is_matched_by_another_identifier(integration_b, clinic_b):
    existing = Patient.objects.create(clinic=clinic_b, mrn="B-1", family_name="Known")
    PatientIdentifier.objects.create(patient=existing, system="urn:ehr", value="E-9")
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Known", "given": ["Kim"]}],
        "identifier": [
            {"system": "urn:ehr", "value": "E-9"},
            {"system": "urn:other", "value": "O-1"},
        ],
    }
    answer = imported(integration_b, transaction(patient))
    assert answer["entry"][0]["response"]["location"] == f"Patient/{existing.pk}"
    existing.refresh_from_db()
    assert existing.given_name == "Kim"
    assert existing.mrn == "B-1"
    assert {(i.system, i.value) for i in existing.external_ids.all()} == {
        ("urn:ehr", "E-9"),
        ("urn:other", "O-1"),
    }


def test_the_same_mrn_from_another_record_system_is_not_merged(integration_b):
    first = {
        "resourceType": "Patient",
        "name": [{"family": "Levin"}],
        "identifier": [{**codes.mrn_identifier("123456"), "system": "urn:hospital-1"}],
    }
    imported(integration_b, transaction(first))
    second = copy.deepcopy(first)
    second["identifier"][0]["system"] = "urn:hospital-2"
    second["name"][0]["family"] = "Donald"
    issues = refused(integration_b, transaction(second))
    assert issues[0]["code"] == "conflict"
    assert Patient.objects.get().family_name == "Levin"


def test_references_to_this_servers_own_records(integration_a, record):
    """A Bundle may refer to a patient already here by id or by identifier."""
    patient = record["patient"]
    study = {
        "resourceType": "ImagingStudy",
        "status": "available",
        "identifier": [codes.accession_identifier("NEW-1")],
        "modality": [{"system": codes.DICOM_MODALITY, "code": "CT"}],
        "started": "2026-01-10T10:00:00+01:00",
    }
    for subject in (f"Patient/{patient.pk}", "Patient?identifier=urn:oid:1.2.3.4|EHR-77"):
        answer = imported(integration_a, transaction({**study, "subject": {"reference": subject}}))
        exam = ImagingExam.objects.get(accession_number="NEW-1")
        assert answer["entry"][0]["response"]["location"] == f"ImagingStudy/{exam.pk}"
        assert exam.patient == patient
        assert exam.modality == "CT"


def test_a_report_is_imported_with_its_exam(integration_a, record):
    exam = record["mri"]
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"text": "MR lumbar spine"},
        "identifier": [codes.accession_identifier(exam.accession_number)],
        "subject": {"reference": f"Patient/{record['patient'].pk}"},
        "conclusion": "No recurrence.",
    }
    answer = imported(integration_a, transaction(report))
    assert answer["entry"][0]["response"]["location"] == f"DiagnosticReport/{exam.pk}"
    exam.refresh_from_db()
    assert exam.report == "No recurrence."
    report["identifier"] = [codes.accession_identifier("UNKNOWN")]
    issues = refused(integration_a, transaction(report))
    assert issues[0]["expression"] == ["Bundle.entry[0].resource.imagingStudy"]


HOSPITAL = "urn:oid:1.2.250.1.71.4.2.7"


def test_a_patient_is_matched_by_any_identifier_of_the_clinics_mrn_system(integration_a):
    clinic = integration_a.clinic
    clinic.mrn_system = HOSPITAL
    clinic.save()
    patient = Patient.objects.create(clinic=clinic, mrn="H-2", family_name="Roux")
    PatientIdentifier.objects.create(patient=patient, system=HOSPITAL, value="H-1")
    for value in ("H-2", "H-1"):  # the MRN, then an earlier one kept under that system
        resource = {
            "resourceType": "Patient",
            "identifier": [{"system": HOSPITAL, "value": value}],
            "name": [{"family": "Roux", "given": ["Léa"]}],
        }
        answer = imported(integration_a, transaction(resource))
        assert answer["entry"][0]["response"]["location"] == f"Patient/{patient.pk}"
    patient.refresh_from_db()
    assert (patient.mrn, Patient.objects.count()) == ("H-2", 1)


def test_a_study_with_its_uid_alone_is_imported_and_found_again(integration_a):
    patient = Patient.objects.create(clinic=integration_a.clinic, mrn="U-1", family_name="Uid")
    study = {
        "resourceType": "ImagingStudy",
        "status": "available",
        "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.840.99999.7.7"}],
        "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "MR"}],
        "subject": {"reference": f"Patient/{patient.pk}"},
        "started": "2026-01-05T10:00:00+01:00",
    }
    imported(integration_a, transaction(study))
    exam = ImagingExam.objects.get()
    assert (exam.accession_number, exam.study_instance_uid) == ("", "1.2.840.99999.7.7")
    again = imported(integration_a, transaction(study))
    assert again["entry"][0]["response"]["status"] == "200 OK"
    served = valid(fhir_get(integration_a, f"/fhir/r4/ImagingStudy/{exam.pk}"))
    assert served["identifier"] == [study["identifier"][0]]
    valid(fhir_get(integration_a, f"/fhir/r4/DiagnosticReport/{exam.pk}"))


def test_the_mrn_system_of_a_clinic_is_a_url_or_an_oid(clinic_a):
    from django.core.exceptions import ValidationError

    for good in ("", HOSPITAL, "https://hospital.test/fhir/sid/mrn"):
        clinic_a.mrn_system = good
        clinic_a.full_clean()
    for bad in ("urn:oid:1.2.x", "mrn", "ftp://x/y", "urn:isbn:123"):
        clinic_a.mrn_system = bad
        try:
            clinic_a.full_clean()
        except ValidationError as error:
            assert "mrn_system" in error.message_dict, bad
        else:
            raise AssertionError(bad)
