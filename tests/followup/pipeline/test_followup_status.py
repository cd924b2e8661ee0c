"""A patient whose follow-up ended (deceased, declined...) raises no overdue alert and
appears in no digest; their open overdue alerts resolve with the reason."""

from datetime import datetime, timedelta

import time_machine
from django.contrib.auth import get_user_model

from followup.delivery import digest
from followup.models import Alert, AlertStatus
from followup.pipeline import refresh, sweep
from patients.models import FollowupStatus, Membership, Patient, Role
from tests import factories
from tests.conftest import persona_with

from ..browser_form import form_data
from ..conftest import local
from .test_sweep import BASELINE_OVERDUE, DAY0, fusions


def test_a_deceased_patient_raises_no_overdue_alert(protocols, paris):
    ended, followed = fusions(paris, 2)
    Patient.objects.filter(pk=ended.patient_id).update(followup_status=FollowupStatus.DECEASED)
    sweep.run(BASELINE_OVERDUE)
    assert list(Alert.objects.values_list("patient_id", flat=True)) == [followed.patient_id]
    # Every later sweep leaves them alone too.
    sweep.run(BASELINE_OVERDUE + timedelta(days=200))
    assert not Alert.objects.filter(patient_id=ended.patient_id).exists()


def test_the_api_ends_the_follow_up_and_the_refresh_resolves_with_the_reason(protocols, paris):
    (surgery,) = fusions(paris, 1)
    sweep.run(BASELINE_OVERDUE)
    assert Alert.objects.get().status == AlertStatus.OPEN
    integration = persona_with(paris, "EHR of Paris")
    with time_machine.travel(BASELINE_OVERDUE + timedelta(days=1), tick=False):
        response = integration.api.patch(
            f"/api/v1/patients/{surgery.patient_id}/",
            {"followup_status": "deceased", "followup_status_reason": "Died 2026-02-18"},
            format="json",
        )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["followup_status"] == "deceased"
    assert body["followup_status_set_by"] == "API client EHR of Paris"
    assert datetime.fromisoformat(body["followup_status_set_at"]) == BASELINE_OVERDUE + timedelta(
        days=1
    )
    assert surgery.plan.__class__.objects.get(surgery=surgery).stale_since is not None

    refresh.refresh(surgery.pk, BASELINE_OVERDUE + timedelta(days=1))
    alert = Alert.objects.get()
    assert alert.status == AlertStatus.RESOLVED and alert.auto_resolved
    assert alert.resolution_note == "Follow-up ended: patient deceased (Died 2026-02-18)."


def test_the_sweep_resolves_them_even_when_no_refresh_ran(protocols, paris):
    (surgery,) = fusions(paris, 1)
    sweep.run(BASELINE_OVERDUE)
    Patient.objects.filter(pk=surgery.patient_id).update(followup_status=FollowupStatus.DECLINED)
    sweep.run(BASELINE_OVERDUE + timedelta(hours=1))
    alert = Alert.objects.get()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolution_note == "Follow-up ended: patient declined."


def test_an_unknown_status_is_a_400_naming_the_field(paris):
    patient = factories.patient(paris)
    integration = persona_with(paris, "EHR of Paris")
    response = integration.api.patch(
        f"/api/v1/patients/{patient.pk}/", {"followup_status": "asleep"}, format="json"
    )
    assert response.status_code == 400
    assert "followup_status" in response.json()
    assert Patient.objects.get(pk=patient.pk).followup_status == "active"


def test_a_patient_not_followed_appears_in_no_digest(protocols, paris):
    ended, followed = fusions(paris, 2)
    sweep.run(BASELINE_OVERDUE)
    Patient.objects.filter(pk=ended.patient_id).update(followup_status=FollowupStatus.LOST)
    data = digest.collect(paris, BASELINE_OVERDUE + timedelta(hours=2))
    assert {a.patient_id for a in data.open_alerts} == {followed.patient_id}
    assert {c.patient_id for c in data.overdue} == {followed.patient_id}
    soon = digest.collect(paris, DAY0 + timedelta(days=40))
    assert {c.patient_id for c in soon.due_soon} == {followed.patient_id}


def test_the_admin_records_who_ended_the_follow_up(protocols, paris, client):
    patient = factories.patient(paris)
    user = get_user_model().objects.create_user("mia", password="x", is_staff=True)
    Membership.objects.create(user=user, clinic=paris, role=Role.MANAGER)
    client.force_login(user)
    page = client.get(f"/admin/patients/patient/{patient.pk}/change/")
    data = form_data(page.content.decode(), "patient_form")
    data.update(followup_status="transferred", followup_status_reason="Moved to Lille")
    with time_machine.travel(local("Europe/Paris", 2026, 3, 1, 10), tick=False):
        response = client.post(f"/admin/patients/patient/{patient.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    patient.refresh_from_db()
    assert patient.followup_status == "transferred"
    assert patient.followup_status_set_by == "user mia"
    assert patient.followup_status_set_at == local("Europe/Paris", 2026, 3, 1, 10)
