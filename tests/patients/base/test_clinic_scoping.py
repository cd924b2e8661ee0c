"""Clinic B's staff and integration never see nor change clinic A's rows.

Another clinic's object answers exactly as an object that does not exist (404).
"""

import pytest

from imaging.models import Finding, ImagingExam
from patients.models import Patient, Surgery
from tests import factories

OUTSIDERS = ["staff_b", "integration_b"]
ENDPOINTS = ["patients", "surgeries", "exams"]


@pytest.fixture(params=OUTSIDERS)
def outsider(request):
    return request.getfixturevalue(request.param)


def rows_of(clinic):
    patient = factories.patient(clinic)
    surgery = factories.surgery(patient)
    exam = factories.exam(patient, surgery, findings=[{"code": "bridging", "value": "none"}])
    return {"patients": patient, "surgeries": surgery, "exams": exam}


@pytest.fixture
def rows_a(clinic_a):
    return rows_of(clinic_a)


@pytest.fixture
def rows_b(clinic_b):
    return rows_of(clinic_b)


def row_counts() -> dict[str, int]:
    models = (Patient, Surgery, ImagingExam, Finding)
    return {model.__name__: model.objects.count() for model in models}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_detail_of_another_clinic_is_404(outsider, rows_a, name):
    response = outsider.api.get(f"/api/v1/{name}/{rows_a[name].pk}/")
    assert response.status_code == 404


@pytest.mark.parametrize("name", ENDPOINTS)
def test_another_clinic_answers_exactly_as_a_missing_object(outsider, rows_a, name):
    missing = outsider.api.get(f"/api/v1/{name}/999999999/")
    foreign = outsider.api.get(f"/api/v1/{name}/{rows_a[name].pk}/")
    assert (foreign.status_code, foreign.json()) == (missing.status_code, missing.json())


PATCHES = {
    "patients": ("family_name", "Changed"),
    "surgeries": ("surgeon", "Dr Changed"),
    "exams": ("report", "Changed"),
}


@pytest.mark.parametrize("name", ENDPOINTS)
def test_patch_of_another_clinic_is_404_and_changes_nothing(outsider, rows_a, name):
    field, value = PATCHES[name]
    row = rows_a[name]
    response = outsider.api.patch(f"/api/v1/{name}/{row.pk}/", {field: value}, format="json")
    assert response.status_code == 404
    row.refresh_from_db()
    assert getattr(row, field) != value


@pytest.mark.parametrize("name", ENDPOINTS)
def test_list_shows_only_own_clinic_rows(outsider, rows_a, rows_b, name):
    assert ids(outsider.api.get(f"/api/v1/{name}/")) == [rows_b[name].pk]


@pytest.mark.parametrize("name", ["surgeries", "exams"])
def test_list_filtered_by_another_clinics_patient_is_empty(outsider, rows_a, rows_b, name):
    patient = rows_a["patients"]
    assert ids(outsider.api.get(f"/api/v1/{name}/", {"patient": patient.pk})) == []


def test_exam_list_filtered_by_another_clinics_surgery_is_empty(outsider, rows_a, rows_b):
    surgery = rows_a["surgeries"]
    assert ids(outsider.api.get("/api/v1/exams/", {"surgery": surgery.pk})) == []


@pytest.mark.parametrize("name", ["surgeries", "exams"])
def test_own_clinic_sees_its_rows_through_the_patient_filter(staff_a, rows_a, rows_b, name):
    """The filter itself works: the empty lists above are scoping, not a broken filter."""
    patient = rows_a["patients"]
    assert ids(staff_a.api.get(f"/api/v1/{name}/", {"patient": patient.pk})) == [rows_a[name].pk]


def test_exam_filter_by_own_surgery_finds_the_exam(integration_a, rows_a, rows_b):
    surgery = rows_a["surgeries"]
    response = integration_a.api.get("/api/v1/exams/", {"surgery": surgery.pk})
    assert ids(response) == [rows_a["exams"].pk]


def test_surgery_for_another_clinics_patient_is_refused(outsider, rows_a):
    before = row_counts()
    response = outsider.api.post(
        "/api/v1/surgeries/",
        {"patient": rows_a["patients"].pk, "performed_at": "2026-03-01", "procedure": "tlif"},
        format="json",
    )
    assert response.status_code == 400
    assert "patient" in response.json()
    assert row_counts() == before


def test_exam_for_another_clinics_patient_is_refused(outsider, rows_a):
    before = row_counts()
    response = outsider.api.post(
        "/api/v1/exams/",
        {
            "patient": rows_a["patients"].pk,
            "modality": "XR",
            "performed_at": "2026-03-01",
            "accession_number": "B-ACC-1",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "patient" in response.json()
    assert row_counts() == before


def test_exam_on_another_clinics_surgery_is_refused(outsider, rows_a, rows_b):
    before = row_counts()
    response = outsider.api.post(
        "/api/v1/exams/",
        {
            "patient": rows_b["patients"].pk,
            "surgery": rows_a["surgeries"].pk,
            "modality": "XR",
            "performed_at": "2026-03-01",
            "accession_number": "B-ACC-2",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "surgery" in response.json()
    assert row_counts() == before


def test_reposting_another_clinics_accession_number_leaves_that_exam_alone(
    outsider, rows_a, rows_b
):
    """Accession numbers are unique per clinic: B's exam with A's number is B's own exam."""
    exam_a = rows_a["exams"]
    response = outsider.api.post(
        "/api/v1/exams/",
        {
            "patient": rows_b["patients"].pk,
            "modality": "CT",
            "performed_at": "2026-03-01",
            "accession_number": exam_a.accession_number,
            "findings": [],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["id"] != exam_a.pk
    exam_a.refresh_from_db()
    assert exam_a.modality == "XR"
    assert exam_a.findings.count() == 1
