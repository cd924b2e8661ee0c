"""Read and search of every FHIR type: each answer is valid R4 (fhir.resources, R4B models)."""

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from followup.fhir import codes
from tests import factories

from .conftest import FHIR_JSON, fhir_get, search, valid

TYPES = [
    "Patient",
    "Procedure",
    "ImagingStudy",
    "DiagnosticReport",
    "Observation",
    "CarePlan",
    "Flag",
]


def expected_ids(record) -> dict[str, set[str]]:
    exam, mri, assessment = record["exam"], record["mri"], record["assessment"]
    return {
        "Procedure": {str(record["surgery"].pk)},
        "ImagingStudy": {str(exam.pk), str(mri.pk)},
        "DiagnosticReport": {str(exam.pk), str(mri.pk)},
        "Observation": {f"finding-{f.pk}" for f in exam.findings.all()}
        | {f"assessment-{assessment.pk}-nrs-back", f"assessment-{assessment.pk}-odi"},
        "CarePlan": {str(record["surgery"].pk)},
        "Flag": {str(record["alert"].pk)},  # the resolved alert is not an open Flag
    }


@pytest.mark.parametrize("resource_type", TYPES[1:])
def test_search_by_patient_finds_the_patients_resources_and_each_is_valid(
    integration_a, record, resource_type
):
    other = factories.patient(record["patient"].clinic)
    factories.exam(
        other, factories.surgery(other), findings=[{"code": "vacuum_disc", "value": True}]
    )
    for query in (record["patient"].pk, f"Patient/{record['patient'].pk}"):
        found = search(integration_a, f"/fhir/r4/{resource_type}?patient={query}")
        assert {r["id"] for r in found} == expected_ids(record)[resource_type]
        for resource in found:
            assert resource["resourceType"] == resource_type
            valid(resource)
            assert resource["subject"] == {"reference": f"Patient/{record['patient'].pk}"}


@pytest.mark.parametrize("resource_type", TYPES[1:])
def test_read_answers_the_same_resource_as_the_search(integration_a, record, resource_type):
    for resource in search(
        integration_a, f"/fhir/r4/{resource_type}?patient={record['patient'].pk}"
    ):
        read = fhir_get(integration_a, f"/fhir/r4/{resource_type}/{resource['id']}")
        assert read == valid(resource)


def test_patient_read(integration_a, record):
    patient = record["patient"]
    resource = valid(fhir_get(integration_a, f"/fhir/r4/Patient/{patient.pk}"))
    assert resource["id"] == str(patient.pk)  # the same id as /api/v1/patients/
    mrn = [i for i in resource["identifier"] if i.get("type")]
    assert mrn == [codes.mrn_identifier(patient.mrn)]
    assert mrn[0]["type"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
        "code": "MR",
        "display": "Medical record number",
    }
    assert {"system": "urn:oid:1.2.3.4", "value": "EHR-77"} in resource["identifier"]
    assert resource["name"] == [
        {"use": "official", "family": patient.family_name, "given": ["Anna", "Maria"]}
    ]
    assert resource["gender"] == "female"
    assert resource["birthDate"] == "1961-04-02"
    assert {"url": codes.EXT_TRANSITIONAL_VARIANT, "valueString": "L6 (lumbarised S1)"} in (
        resource["extension"]
    )


def test_patient_search_by_identifier(integration_a, record):
    patient = record["patient"]
    factories.patient(patient.clinic)
    for token in (
        "urn:oid:1.2.3.4|EHR-77",
        f"{codes.MRN_SYSTEM}|{patient.mrn}",
        "EHR-77",
        patient.mrn,
    ):
        found = search(integration_a, f"/fhir/r4/Patient?identifier={token}")
        assert [r["id"] for r in found] == [str(patient.pk)], token
    for token in ("urn:other|EHR-77", "|EHR-77", f"urn:oid:1.2.3.4|{patient.mrn}"):
        assert search(integration_a, f"/fhir/r4/Patient?identifier={token}") == [], token


def test_procedure_codes(integration_a, record):
    resource = fhir_get(integration_a, f"/fhir/r4/Procedure/{record['surgery'].pk}")
    assert resource["status"] == "completed"
    assert resource["code"]["coding"][0] == {
        "system": codes.PROCEDURE,
        "code": "tlif",
        "display": "TLIF",
    }
    assert [b["coding"][0]["code"] for b in resource["bodySite"]] == ["L4-L5", "L5-S1"]
    assert {c["coding"][0]["code"] for c in resource["usedCode"]} == {
        "pedicle_screws",
        "rods",
        "interbody_cage",
    }
    assert resource["performer"] == [{"actor": {"display": "Dr Ortega"}}]


def test_imaging_study_and_report_of_one_exam(integration_a, record):
    exam = record["exam"]
    study = fhir_get(integration_a, f"/fhir/r4/ImagingStudy/{exam.pk}")
    assert study["modality"] == [
        {
            "system": "http://dicom.nema.org/resources/ontology/DCM",
            "code": "DX",
            "display": "Digital Radiography",
        }
    ]
    assert codes.accession_identifier(exam.accession_number) in study["identifier"]
    assert {"system": "urn:dicom:uid", "value": "urn:oid:1.2.840.99999.1.2"} in study["identifier"]
    report = fhir_get(integration_a, f"/fhir/r4/DiagnosticReport/{exam.pk}")
    assert report["code"]["coding"][0]["system"] == "http://loinc.org"
    assert report["imagingStudy"] == [{"reference": f"ImagingStudy/{exam.pk}"}]
    assert report["conclusion"] == exam.report
    assert report["status"] == "final"
    assert {r["reference"] for r in report["result"]} == {
        f"Observation/finding-{f.pk}" for f in exam.findings.all()
    }
    empty = fhir_get(integration_a, f"/fhir/r4/DiagnosticReport/{record['mri'].pk}")
    assert empty["status"] == "registered"
    assert "result" not in empty


def test_observations_use_loinc_for_scores_and_our_codes_for_findings(integration_a, record):
    found = {
        r["id"]: r
        for r in search(integration_a, f"/fhir/r4/Observation?patient={record['patient'].pk}")
    }
    assessment = record["assessment"]
    nrs = found[f"assessment-{assessment.pk}-nrs-back"]
    assert nrs["code"]["coding"][0]["system"] == "http://loinc.org"
    assert nrs["code"]["coding"][0]["code"] == "72514-3"
    assert nrs["valueInteger"] == 3
    odi = found[f"assessment-{assessment.pk}-odi"]
    assert odi["code"]["coding"][0]["code"] == "97909-6"
    assert odi["valueInteger"] == 28
    by_code = {
        r["code"]["coding"][0]["code"]: r
        for r in found.values()
        if r["code"]["coding"][0]["system"] == codes.FINDING
    }
    assert by_code["screw_lucency_mm"]["valueQuantity"]["value"] == 2.5
    assert by_code["screw_lucency_mm"]["valueQuantity"]["code"] == "mm"
    assert by_code["screw_lucency_mm"]["bodySite"]["coding"][0]["code"] == "L5"
    assert by_code["bridging"]["valueCodeableConcept"]["coding"][0]["code"] == "partial"
    assert by_code["rod_fracture"]["valueBoolean"] is False


def test_care_plan_lists_the_surgery_checkpoints(integration_a, record):
    plan = fhir_get(integration_a, f"/fhir/r4/CarePlan/{record['surgery'].pk}")
    activities = {a["detail"]["code"]["coding"][0]["code"]: a for a in plan["activity"]}
    assert set(activities) == {"baseline_film", "bridging_film", "gadolinium_cutoff"}
    baseline = activities["baseline_film"]
    assert baseline["detail"]["status"] == "completed"
    assert baseline["outcomeReference"] == [{"reference": f"ImagingStudy/{record['exam'].pk}"}]
    assert activities["bridging_film"]["detail"]["statusReason"]["coding"][0]["code"] == "open"
    assert plan["supportingInfo"] == [{"reference": f"Procedure/{record['surgery'].pk}"}]


def test_flags_are_open_alerts(integration_a, record):
    flag = fhir_get(integration_a, f"/fhir/r4/Flag/{record['alert'].pk}")
    assert flag["status"] == "active"
    assert flag["code"]["coding"][0] == {
        "system": codes.ALERT,
        "code": "screw_loosening",
        "display": "Screw Loosening",
    }
    resolved = valid(fhir_get(integration_a, f"/fhir/r4/Flag/{record['resolved_alert'].pk}"))
    assert resolved["status"] == "inactive"


def test_capability_statement(integration_a):
    statement = fhir_get(integration_a, "/fhir/r4/metadata")
    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    # Subscription and its topics (Basic): tests/followup/fhir/test_fhir_subscriptions.py
    assert [r["type"] for r in rest["resource"]] == [*TYPES, "Subscription", "Basic", "Measure"]
    for resource in rest["resource"][: len(TYPES)]:
        assert {i["code"] for i in resource["interaction"]} == {"read", "search-type"}
    # The capture rates: tests/followup/fhir/test_fhir_measure_report.py
    measure = rest["resource"][-1]
    assert measure["interaction"] == [{"code": "read"}] and "searchParam" not in measure
    assert [(o["name"], o["definition"]) for o in measure["operation"]] == [
        ("evaluate-measure", "http://hl7.org/fhir/OperationDefinition/Measure-evaluate-measure")
    ]
    assert {"code": rest["interaction"][0]["code"]} == {"code": "transaction"}


def test_answers_are_fhir_json_whatever_the_accept_header(integration_a, record):
    for accept in ("application/json", "text/html", "*/*", FHIR_JSON):
        response = integration_a.api.get(
            f"/fhir/r4/Patient/{record['patient'].pk}", HTTP_ACCEPT=accept
        )
        assert response.status_code == 200
        assert response["Content-Type"] == FHIR_JSON


def test_search_pages_follow_the_next_link(integration_a, clinic_a):
    patient = factories.patient(clinic_a)
    surgeries = {str(factories.surgery(patient).pk) for _ in range(5)}
    bundle = fhir_get(integration_a, f"/fhir/r4/Procedure?patient={patient.pk}&_count=2")
    seen = set()
    while True:
        valid(bundle)
        seen |= {e["resource"]["id"] for e in bundle.get("entry", [])}
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        bundle = fhir_get(integration_a, following[0])
    assert seen == surgeries


@pytest.mark.parametrize(
    "url",
    [
        "/fhir/r4/Procedure?subject=1",
        "/fhir/r4/Patient?family=x",
        "/fhir/r4/Procedure?patient=x",
        "/fhir/r4/Observation",
        "/fhir/r4/Observation?patient=1&_count=-5",
    ],
)
def test_a_search_the_server_cannot_do_is_a_400_outcome(integration_a, url):
    outcome = valid(fhir_get(integration_a, url, status=400))
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "invalid"
