"""/api/v1/surgeries/: create, read, PATCH, and the 400s that name the bad field."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from imaging.models import Finding, ImagingExam
from patients.models import Patient, Surgery
from tests import factories

WRITERS = ["staff_a", "integration_a"]


@pytest.fixture(params=WRITERS)
def writer(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def patient_a(clinic_a):
    return factories.patient(clinic_a)


def row_counts() -> dict[str, int]:
    models = (Patient, Surgery, ImagingExam, Finding)
    return {model.__name__: model.objects.count() for model in models}


def payload(patient, **fields) -> dict:
    return {
        "patient": patient.pk,
        "performed_at": "2026-03-01T09:30:00+01:00",
        "procedure": "tlif",
        "levels": ["L4-L5"],
        "hardware": ["pedicle_screws", "rods", "interbody_cage"],
        "surgeon": "Dr Who",
        "notes": "",
    } | fields


def post_refused(persona, body: dict, field: str):
    """POST must answer 400 naming `field` and write nothing; returns the field's errors."""
    before = row_counts()
    response = persona.api.post("/api/v1/surgeries/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert row_counts() == before
    return response.json()[field]


def test_create_surgery(writer, patient_a):
    response = writer.api.post("/api/v1/surgeries/", payload(patient_a), format="json")

    assert response.status_code == 201, response.content
    surgery = Surgery.objects.get(pk=response.json()["id"])
    assert surgery.patient == patient_a
    assert surgery.clinic_id == patient_a.clinic_id
    assert surgery.performed_at == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    assert (surgery.procedure, surgery.levels) == ("tlif", ["L4-L5"])
    assert surgery.hardware == ["pedicle_screws", "rods", "interbody_cage"]


def test_retrieve_surgery_shows_the_contract_fields(integration_a, patient_a):
    surgery = factories.surgery(patient_a, surgeon="Dr Who")
    body = integration_a.api.get(f"/api/v1/surgeries/{surgery.pk}/").json()
    expected = {"id", "patient", "performed_at", "procedure", "levels", "hardware", "surgeon"}
    assert expected | {"notes"} <= set(body)
    assert (body["patient"], body["surgeon"]) == (patient_a.pk, "Dr Who")


def test_date_alone_means_midnight_in_the_clinics_zone(integration_a, patient_a):
    response = integration_a.api.post(
        "/api/v1/surgeries/", payload(patient_a, performed_at="2026-03-01"), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["performed_at"] == "2026-02-28T23:00:00Z"


def test_date_alone_follows_each_clinics_own_zone(integration_b, clinic_b):
    """Clinic B is in Los Angeles: its midnight is 08:00 UTC."""
    patient = factories.patient(clinic_b)
    response = integration_b.api.post(
        "/api/v1/surgeries/", payload(patient, performed_at="2026-03-01"), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["performed_at"] == "2026-03-01T08:00:00Z"


def test_patch_surgery_changes_only_the_given_field(writer, patient_a):
    surgery = factories.surgery(patient_a, levels=["L4-L5"], surgeon="Dr Who")
    response = writer.api.patch(
        f"/api/v1/surgeries/{surgery.pk}/", {"levels": ["L4-L5", "L5-S1"]}, format="json"
    )
    assert response.status_code == 200, response.content
    surgery.refresh_from_db()
    assert (surgery.levels, surgery.surgeon) == (["L4-L5", "L5-S1"], "Dr Who")


def test_patch_with_a_bad_level_changes_nothing(integration_a, patient_a):
    surgery = factories.surgery(patient_a, levels=["L4-L5"])
    response = integration_a.api.patch(
        f"/api/v1/surgeries/{surgery.pk}/", {"levels": ["L9"], "surgeon": "X"}, format="json"
    )
    assert response.status_code == 400
    assert "levels" in response.json()
    surgery.refresh_from_db()
    assert (surgery.levels, surgery.surgeon) == (["L4-L5"], "")


def test_surgery_cannot_move_to_another_patient(integration_a, patient_a, clinic_a):
    surgery = factories.surgery(patient_a)
    other = factories.patient(clinic_a)
    response = integration_a.api.patch(
        f"/api/v1/surgeries/{surgery.pk}/", {"patient": other.pk}, format="json"
    )
    assert response.status_code == 400
    assert "patient" in response.json()
    surgery.refresh_from_db()
    assert surgery.patient == patient_a


# "l4-l5" is no longer bad: levels are normalised (tests/imaging/test_api_exam_levels.py).
@pytest.mark.parametrize("level", ["L9", "L5-L4", "L4-L4", "L6", "S2", "L4L5", ""])
def test_bad_level_is_refused(writer, patient_a, level):
    errors = post_refused(writer, payload(patient_a, levels=["L4-L5", level]), "levels")
    assert "1" in errors  # the index of the bad item
    assert "0" not in errors


@pytest.mark.parametrize("level", ["C1", "T12-L1", "L4-S1", "L5-S1"])
def test_good_levels_are_accepted(integration_a, patient_a, level):
    response = integration_a.api.post(
        "/api/v1/surgeries/", payload(patient_a, levels=[level]), format="json"
    )
    assert response.status_code == 201, response.content


def test_level_listed_twice_is_refused(writer, patient_a):
    post_refused(writer, payload(patient_a, levels=["L4-L5", "L4-L5"]), "levels")


@pytest.mark.parametrize("procedure", ["fusion", "TLIF", "", None])
def test_bad_procedure_is_refused(writer, patient_a, procedure):
    post_refused(writer, payload(patient_a, procedure=procedure), "procedure")


def test_bad_hardware_item_is_refused(writer, patient_a):
    errors = post_refused(writer, payload(patient_a, hardware=["rods", "bolt"]), "hardware")
    assert "1" in errors


def test_hardware_that_is_not_a_list_is_refused(writer, patient_a):
    post_refused(writer, payload(patient_a, hardware="rods"), "hardware")


def test_future_performed_at_is_refused(writer, patient_a):
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()
    post_refused(writer, payload(patient_a, performed_at=tomorrow), "performed_at")


def test_future_date_alone_is_refused(writer, patient_a):
    in_two_days = (timezone.now() + timedelta(days=2)).date().isoformat()
    post_refused(writer, payload(patient_a, performed_at=in_two_days), "performed_at")


@pytest.mark.parametrize("value", ["01/03/2026", "2026-02-30", "yesterday", 20260301])
def test_malformed_performed_at_is_refused(writer, patient_a, value):
    post_refused(writer, payload(patient_a, performed_at=value), "performed_at")


def test_patch_to_a_future_performed_at_is_refused(integration_a, patient_a):
    surgery = factories.surgery(patient_a)
    before = surgery.performed_at
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()
    response = integration_a.api.patch(
        f"/api/v1/surgeries/{surgery.pk}/", {"performed_at": tomorrow}, format="json"
    )
    assert response.status_code == 400
    assert "performed_at" in response.json()
    surgery.refresh_from_db()
    assert surgery.performed_at == before


def test_unknown_patient_is_refused(writer):
    post_refused(writer, payload(Patient(pk=999999999)), "patient")


def test_a_surgery_cannot_move_after_its_own_exams(integration_a, patient_a):
    surgery = factories.surgery(patient_a, timezone.now() - timedelta(days=100))
    factories.exam(patient_a, surgery, performed_at=surgery.performed_at + timedelta(days=10))
    response = integration_a.api.patch(
        f"/api/v1/surgeries/{surgery.pk}/",
        {"performed_at": (surgery.performed_at + timedelta(days=20)).isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert "performed_at" in response.json()
    old = surgery.performed_at
    surgery.refresh_from_db()
    assert surgery.performed_at == old
