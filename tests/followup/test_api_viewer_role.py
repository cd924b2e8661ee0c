"""A viewer of clinic A reads everything of clinic A and writes nothing."""

import pytest

from imaging.models import Finding, ImagingExam
from patients.models import Patient, Surgery
from tests import factories


@pytest.fixture
def records(clinic_a):
    patient = factories.patient(clinic_a)
    surgery = factories.surgery(patient)
    exam = factories.exam(patient, surgery)
    return {"patients": patient, "surgeries": surgery, "exams": exam}


ENDPOINTS = ["patients", "surgeries", "exams"]


def row_counts() -> dict[str, int]:
    models = (Patient, Surgery, ImagingExam, Finding)
    return {model.__name__: model.objects.count() for model in models}


@pytest.mark.parametrize("name", ENDPOINTS)
def test_viewer_lists_own_clinic_rows(viewer_a, records, name):
    response = viewer_a.api.get(f"/api/v1/{name}/")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [records[name].pk]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_viewer_retrieves_own_clinic_row(viewer_a, records, name):
    response = viewer_a.api.get(f"/api/v1/{name}/{records[name].pk}/")
    assert response.status_code == 200
    assert response.json()["id"] == records[name].pk


def test_viewer_cannot_create_a_patient(viewer_a):
    before = row_counts()
    response = viewer_a.api.post(
        "/api/v1/patients/", {"mrn": "V1", "family_name": "Doe"}, format="json"
    )
    assert response.status_code == 403
    assert row_counts() == before


def test_viewer_cannot_create_a_surgery(viewer_a, records):
    before = row_counts()
    response = viewer_a.api.post(
        "/api/v1/surgeries/",
        {"patient": records["patients"].pk, "performed_at": "2026-03-01", "procedure": "tlif"},
        format="json",
    )
    assert response.status_code == 403
    assert row_counts() == before


def test_viewer_cannot_create_an_exam(viewer_a, records):
    before = row_counts()
    response = viewer_a.api.post(
        "/api/v1/exams/",
        {
            "patient": records["patients"].pk,
            "modality": "XR",
            "performed_at": "2026-03-01",
            "accession_number": "V-ACC-1",
            "findings": [{"code": "bridging", "value": "none"}],
        },
        format="json",
    )
    assert response.status_code == 403
    assert row_counts() == before


def test_viewer_cannot_update_an_exam_by_reposting_its_accession_number(viewer_a, records):
    exam = records["exams"]
    response = viewer_a.api.post(
        "/api/v1/exams/",
        {
            "patient": exam.patient_id,
            "modality": "CT",
            "performed_at": "2026-03-01",
            "accession_number": exam.accession_number,
        },
        format="json",
    )
    assert response.status_code == 403
    exam.refresh_from_db()
    assert exam.modality == "XR"


def test_viewer_cannot_patch_a_patient(viewer_a, records):
    patient = records["patients"]
    response = viewer_a.api.patch(
        f"/api/v1/patients/{patient.pk}/", {"family_name": "Changed"}, format="json"
    )
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.family_name != "Changed"


def test_viewer_cannot_patch_a_surgery(viewer_a, records):
    surgery = records["surgeries"]
    response = viewer_a.api.patch(
        f"/api/v1/surgeries/{surgery.pk}/", {"surgeon": "Dr Changed"}, format="json"
    )
    assert response.status_code == 403
    surgery.refresh_from_db()
    assert surgery.surgeon == ""


def test_viewer_cannot_patch_an_exam(viewer_a, records):
    exam = records["exams"]
    response = viewer_a.api.patch(f"/api/v1/exams/{exam.pk}/", {"report": "Changed"}, format="json")
    assert response.status_code == 403
    exam.refresh_from_db()
    assert exam.report == ""
