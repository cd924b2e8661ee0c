"""Levels at every entry path (CLINICAL_RULES §3 "Levels"): written forms stored
canonical, a level of the wrong kind refused naming the field, L6 only for a patient
with six lumbar vertebrae; through the exam API, the bulk paths and the FHIR import.
A refused request writes nothing."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from followup.fhir import codes
from imaging.models import Finding, ImagingExam
from patients.models import Patient, Surgery
from tests import factories

WRITERS = ["staff_a", "integration_a"]
FHIR_JSON = "application/fhir+json"


@pytest.fixture(params=WRITERS)
def writer(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def patient_a(clinic_a):
    patient = factories.patient(clinic_a)
    factories.surgery(patient, performed_at=timezone.now() - timedelta(days=400))
    return patient


@pytest.fixture
def lumbarised(clinic_a):
    patient = factories.patient(clinic_a, lumbar_vertebrae=6, transitional_variant="L6")
    factories.surgery(patient, performed_at=timezone.now() - timedelta(days=400), levels=["L6-S1"])
    return patient


def row_counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in (Patient, Surgery, ImagingExam, Finding)}


def exam(patient, *findings: dict, accession: str = "ACC-L") -> dict:
    return {
        "patient": patient.pk,
        "modality": "CT",
        "performed_at": (timezone.now() - timedelta(days=1)).isoformat(),
        "accession_number": accession,
        "findings": list(findings),
    }


def finding(code: str, level: str, value: object = True) -> dict:
    return {"code": code, "value": value, "level": level}


def stored_levels(patient) -> list[str]:
    return sorted(Finding.objects.filter(exam__patient=patient).values_list("level", flat=True))


def refused_at(persona, body: dict, index: int, field: str = "level"):
    """400 with an error at findings.<index>.<field>, and nothing written."""
    before = row_counts()
    response = persona.api.post("/api/v1/exams/", body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["findings"]
    assert set(errors) == {str(index)}, errors
    assert field in errors[str(index)], errors
    assert row_counts() == before
    return errors[str(index)][field]


# Written forms, stored canonical


@pytest.mark.parametrize("written", ["l4-l5", "L4/L5", "L4-5", "l4/5", " L4 - L5 "])
def test_a_joint_finding_is_stored_canonical(writer, patient_a, written):
    response = writer.api.post(
        "/api/v1/exams/", exam(patient_a, finding("vacuum_disc", written)), format="json"
    )
    assert response.status_code == 201, response.content
    assert stored_levels(patient_a) == ["L4-L5"]
    assert response.json()["findings"][0]["level"] == "L4-L5"


def test_a_vertebra_finding_is_stored_canonical(integration_a, patient_a):
    body = exam(patient_a, {"code": "screw_lucency_mm", "value": 1.0, "level": "l5"})
    assert integration_a.api.post("/api/v1/exams/", body, format="json").status_code == 201
    assert stored_levels(patient_a) == ["L5"]


def test_two_spellings_of_one_level_are_the_same_site(writer, patient_a):
    body = exam(patient_a, finding("vacuum_disc", "L4-L5"), finding("vacuum_disc", "l4/5"))
    response = writer.api.post("/api/v1/exams/", body, format="json")
    assert response.status_code == 400
    assert "findings" in response.json()
    assert row_counts()["ImagingExam"] == 0


def test_other_codes_take_any_level_or_none(integration_a, patient_a):
    body = exam(
        patient_a,
        finding("rod_fracture", "L3-L5"),
        finding("bone_scan_uptake", "L5"),
        {"code": "fluid_collection", "value": "seroma"},
        {"code": "vacuum_facet", "value": True},  # a joint finding may come without a level
    )
    assert integration_a.api.post("/api/v1/exams/", body, format="json").status_code == 201
    assert stored_levels(patient_a) == ["", "", "L3-L5", "L5"]


# The wrong kind: a 400 naming the field


@pytest.mark.parametrize("code", ["bridging", "vacuum_disc", "vacuum_facet", "vacuum_spacer_only",
                                  "disc_herniation", "adjacent_segment_degeneration"])  # fmt: skip
def test_a_vertebra_for_a_joint_finding_is_refused(writer, patient_a, code):
    value = {"bridging": "partial", "disc_herniation": "none"}.get(code, True)
    good = finding("screw_fracture", "L5")
    messages = refused_at(writer, exam(patient_a, good, finding(code, "L5", value)), 1)
    assert messages == [f"{code}: L5 is a vertebra: this finding is about a joint, give a disc "
                        "level, two adjacent vertebrae (e.g. L4-L5, L5-S1)."]  # fmt: skip


def test_a_span_for_a_joint_finding_is_refused(writer, patient_a):
    body = exam(patient_a, {"code": "spacer_posterior_distance_mm", "value": 2, "level": "L3-L5"})
    assert "more than one joint" in refused_at(writer, body, 0)[0]


VERTEBRA_CODES = ["screw_lucency_mm", "periscrew_margin", "screw_fracture", "screw_in_canal",
                  "pars_fracture", "vertebral_fracture"]  # fmt: skip


@pytest.mark.parametrize("code", VERTEBRA_CODES)
def test_a_joint_for_a_vertebra_finding_is_refused(writer, patient_a, code):
    value = {"screw_lucency_mm": 1.0, "periscrew_margin": "ill_defined"}.get(code, True)
    body = exam(patient_a, finding("vacuum_disc", "L4-L5"), finding(code, "L4-L5", value))
    assert "not one vertebra" in refused_at(writer, body, 1)[0]


def test_a_patch_with_a_wrong_kind_changes_nothing(integration_a, patient_a):
    created = integration_a.api.post(
        "/api/v1/exams/", exam(patient_a, finding("vacuum_disc", "L4-L5")), format="json"
    ).json()
    response = integration_a.api.patch(
        f"/api/v1/exams/{created['id']}/",
        {"report": "changed", "findings": [finding("vacuum_disc", "L4")]},
        format="json",
    )
    assert response.status_code == 400
    assert "level" in response.json()["findings"]["0"]
    assert ImagingExam.objects.get().report == ""
    assert stored_levels(patient_a) == ["L4-L5"]


# L6: only with six lumbar vertebrae


def test_l6_is_refused_for_a_patient_with_five_lumbar_vertebrae(writer, patient_a):
    for level, code in (("L6", "screw_fracture"), ("L5-L6", "vacuum_disc"),
                        ("L6-S1", "vacuum_disc")):  # fmt: skip
        messages = refused_at(writer, exam(patient_a, finding(code, level)), 0)
        assert "L6" in messages[0] and "lumbar_vertebrae is 5" in messages[0]


def test_l6_is_accepted_for_a_lumbarised_patient(writer, lumbarised):
    body = exam(
        lumbarised,
        finding("vacuum_disc", "l6/s1"),
        finding("vacuum_facet", "L5-6"),
        finding("screw_fracture", "L6"),
    )
    response = writer.api.post("/api/v1/exams/", body, format="json")
    assert response.status_code == 201, response.content
    assert stored_levels(lumbarised) == ["L5-L6", "L6", "L6-S1"]


def test_l5_s1_is_not_a_joint_with_six_lumbar_vertebrae(writer, lumbarised):
    messages = refused_at(writer, exam(lumbarised, finding("vacuum_disc", "L5-S1")), 0)
    assert "not adjacent with six lumbar vertebrae" in messages[0]


def test_surgery_levels_are_normalised_and_checked_against_the_patient(writer, patient_a):
    body = {"patient": patient_a.pk, "performed_at": "2024-01-10T09:00:00+00:00",
            "procedure": "tlif", "levels": ["l3/4", "L4-5"]}  # fmt: skip
    response = writer.api.post("/api/v1/surgeries/", body, format="json")
    assert response.status_code == 201, response.content
    assert Surgery.objects.get(pk=response.json()["id"]).levels == ["L3-L4", "L4-L5"]

    before = row_counts()
    response = writer.api.post("/api/v1/surgeries/", body | {"levels": ["L4-L5", "L5-L6"]},
                               format="json")  # fmt: skip
    assert response.status_code == 400
    assert set(response.json()["levels"]) == {"1"}
    assert row_counts() == before

    twice = writer.api.post("/api/v1/surgeries/", body | {"levels": ["L4-L5", "l4/5"]},
                            format="json")  # fmt: skip
    assert twice.status_code == 400 and "levels" in twice.json()


def test_a_lumbarised_patients_surgery_may_name_l6(integration_a, lumbarised):
    body = {"patient": lumbarised.pk, "performed_at": "2024-01-10T09:00:00+00:00",
            "procedure": "tlif", "levels": ["L5-6", "L4-S1"]}  # fmt: skip
    response = integration_a.api.post("/api/v1/surgeries/", body, format="json")
    assert response.status_code == 201, response.content
    assert Surgery.objects.get(pk=response.json()["id"]).levels == ["L5-L6", "L4-S1"]


# The bulk paths


def test_bulk_exams_normalise_and_refuse_by_index(integration_a, patient_a, lumbarised):
    records = [
        exam(patient_a, finding("vacuum_disc", "l4/5"), accession="B-0"),
        exam(patient_a, finding("vacuum_disc", "L5"), accession="B-1"),
        exam(patient_a, finding("screw_fracture", "L6"), accession="B-2"),
        exam(lumbarised, finding("screw_fracture", "l6"), accession="B-3"),
    ]
    response = integration_a.api.post("/api/v1/exams/bulk/", {"records": records}, format="json")
    assert response.status_code == 200, response.content
    answer = response.json()
    assert [s["index"] for s in answer["saved"]] == [0, 3]
    assert [e["index"] for e in answer["errors"]] == [1, 2]
    for error in answer["errors"]:
        assert list(error["errors"]["findings"]["0"]) == ["level"]
    assert ImagingExam.objects.filter(accession_number__in=["B-1", "B-2"]).count() == 0
    assert stored_levels(patient_a) == ["L4-L5"]
    assert stored_levels(lumbarised) == ["L6"]


def test_bulk_surgeries_check_l6_against_each_patient(integration_a, patient_a, lumbarised):
    records = [
        {"patient": p.pk, "performed_at": "2024-01-10T09:00:00+00:00", "procedure": "tlif",
         "levels": ["L6-S1"]}
        for p in (patient_a, lumbarised)
    ]  # fmt: skip
    answer = integration_a.api.post(
        "/api/v1/surgeries/bulk/", {"records": records}, format="json"
    ).json()
    assert [s["index"] for s in answer["saved"]] == [1]
    assert [e["index"] for e in answer["errors"]] == [0]
    assert "levels" in answer["errors"][0]["errors"]


# The FHIR import


def _fhir_import(persona, *resources: dict):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": f"urn:uuid:entry-{n}", "resource": r,
             "request": {"method": "POST", "url": r["resourceType"]}}
            for n, r in enumerate(resources)
        ],
    }  # fmt: skip
    return persona.api.post("/fhir/r4/", json.dumps(bundle), content_type=FHIR_JSON)


def _fhir_patient(mrn: str, *extension: dict) -> dict:
    return {"resourceType": "Patient", "identifier": [codes.mrn_identifier(mrn)],
            "name": [{"family": "Doe"}], "extension": list(extension)}  # fmt: skip


def _fhir_procedure(*levels: str) -> dict:
    return {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": codes.PROCEDURE, "code": "tlif"}]},
        "subject": {"reference": "urn:uuid:entry-0"},
        "performedDateTime": "2025-02-01T09:00:00+01:00",
        "bodySite": [{"coding": [{"system": codes.SPINAL_LEVEL, "code": lv}]} for lv in levels],
    }


def test_fhir_procedure_levels_are_stored_canonical(integration_a):
    response = _fhir_import(integration_a, _fhir_patient("F1"), _fhir_procedure("l4/5", "L5-S1"))
    assert response.status_code == 200, response.content
    assert Surgery.objects.get().levels == ["L4-L5", "L5-S1"]


def test_fhir_l6_needs_the_patients_six_lumbar_vertebrae(integration_a):
    response = _fhir_import(integration_a, _fhir_patient("F2"), _fhir_procedure("L5-L6"))
    assert response.status_code == 400
    (issue,) = response.json()["issue"]
    assert issue["expression"] == ["Bundle.entry[1].resource.bodySite"]
    assert "L6" in issue["diagnostics"]
    assert row_counts() == dict.fromkeys(("Patient", "Surgery", "ImagingExam", "Finding"), 0)

    six = {"url": codes.EXT_LUMBAR_VERTEBRAE, "valueInteger": 6}
    response = _fhir_import(integration_a, _fhir_patient("F2", six), _fhir_procedure("L5-L6"))
    assert response.status_code == 200, response.content
    assert Patient.objects.get().lumbar_vertebrae == 6
    assert Surgery.objects.get().levels == ["L5-L6"]
