"""Every change to patient data is recorded with who made it (pghistory triggers)."""

import pytest
from django.test import Client
from pghistory.models import MiddlewareEvents

from imaging.models import Finding
from patients.models import Patient
from tests import factories


def events_of(obj, label: str):
    return MiddlewareEvents.objects.tracks(obj).filter(pgh_label=label)


def test_a_change_through_the_api_names_the_integration_client(integration_a):
    patient = factories.patient(integration_a.clinic, family_name="Old")

    response = integration_a.api.patch(
        f"/api/v1/patients/{patient.pk}/", {"family_name": "New"}, format="json"
    )

    assert response.status_code == 200
    (event,) = events_of(patient, "update")
    assert event.pgh_context["api_client"] == integration_a.client.pk
    assert event.pgh_diff["family_name"] == ["Old", "New"]
    assert event.pgh_context["url"] == f"/api/v1/patients/{patient.pk}/"


def test_a_change_in_the_admin_names_the_staff_member(staff_a):
    patient = factories.patient(staff_a.clinic, mrn="M-1", family_name="Old")
    browser = Client()
    browser.force_login(staff_a.user)

    response = browser.post(
        f"/admin/patients/patient/{patient.pk}/change/",
        {
            "clinic": staff_a.clinic.pk,
            "mrn": "M-1",
            "family_name": "Changed",
            "given_name": patient.given_name,
            "sex": "unknown",
            "transitional_variant": "",
            "lumbar_vertebrae": 5,
            "vertebral_numbering": "",
            "followup_status": "active",
            **_empty_inlines(),
        },
    )

    assert response.status_code == 302, response.content[:2000]
    (event,) = events_of(patient, "update")
    assert event.pgh_context["user"] == staff_a.user.pk
    assert event.pgh_diff["family_name"] == ["Old", "Changed"]


def _empty_inlines() -> dict:
    data = {}
    for prefix in ("external_ids", "surgeries", "exams", "clinical_events", "assessments"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data


def test_bulk_changes_and_deletes_are_audited_too(clinic_a):
    patient = factories.patient(clinic_a)
    exam = factories.exam(patient, findings=[{"code": "vacuum_disc", "value": True}])

    Patient.objects.filter(pk=patient.pk).update(given_name="Bulk")
    Finding.objects.filter(exam=exam).delete()

    assert events_of(patient, "update").get().pgh_diff["given_name"][1] == "Bulk"
    assert MiddlewareEvents.objects.filter(
        pgh_model="imaging.FindingEvent", pgh_label="delete"
    ).exists()


@pytest.mark.parametrize("persona", ["staff_a", "superuser"])
def test_the_trail_is_shown_on_the_patient_page(persona, staff_a, integration_a, django_user_model):
    patient = factories.patient(staff_a.clinic, family_name="Before")
    integration_a.api.patch(
        f"/api/v1/patients/{patient.pk}/", {"family_name": "After"}, format="json"
    )
    user = (
        staff_a.user
        if persona == "staff_a"
        else django_user_model.objects.create_superuser("root", password="a-long-password-1")
    )
    browser = Client()
    browser.force_login(user)

    page = browser.get(f"/admin/patients/patient/{patient.pk}/change/").content.decode()

    assert "API client EHR of A" in page
    assert "After" in page


def test_only_superusers_see_every_clinics_events(staff_a, django_user_model):
    browser = Client()
    browser.force_login(staff_a.user)
    assert browser.get("/admin/pghistory/middlewareevents/").status_code == 403

    browser.force_login(django_user_model.objects.create_superuser("root", password="pw-long-1234"))
    assert browser.get("/admin/pghistory/middlewareevents/").status_code == 200
