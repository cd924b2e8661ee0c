"""With a real worker on Redis: scores posted through the API that show a pain-free
interval then recurrence after a fusion lead the worker to record a pain_recurrence
event and its pseudarthrosis work-up (CLINICAL_RULES §6, §5)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from followup.models import Checkpoint, SurgeryPlan
from patients.models import ClinicalEvent
from tests import factories

from .test_worker_scheduling import wait_for


@pytest.mark.django_db(transaction=True)
def test_posted_scores_lead_the_worker_to_a_pain_recurrence_and_its_workup(
    celery_worker_process, protocols, integration_a
):
    # The worker works with the real clock: the story must be in the past.
    day0 = timezone.now().replace(microsecond=0) - timedelta(days=200)
    surgery = factories.surgery(factories.patient(integration_a.clinic), day0, procedure="tlif")
    wait_for(
        lambda: not SurgeryPlan.objects.filter(pk=surgery.pk, stale_since__isnull=False).exists()
    )

    posted = []
    for day, nrs in ((100, 2), (150, 6)):
        response = integration_a.api.post(
            "/api/v1/assessments/",
            {"patient": surgery.patient_id, "nrs_back": nrs,
             "assessed_at": (day0 + timedelta(days=day)).isoformat()},
            format="json",
        )  # fmt: skip
        assert response.status_code == 201, response.content
        assert response.json()["surgery"] == surgery.pk
        posted.append(response.json()["id"])

    event = wait_for(
        lambda: ClinicalEvent.objects.filter(surgery=surgery, code="pain_recurrence").first()
    )
    assert event.source == "detected"
    assert (event.relief_assessment_id, event.recurrence_assessment_id) == tuple(posted)
    workup = wait_for(lambda: Checkpoint.objects.filter(event=event).first())
    assert (workup.kind, workup.code) == ("workup", "pain_recurrence")
    assert set(workup.modalities) == {"XR", "CT"}
    assert workup.due_at == day0 + timedelta(days=150 + 30)

    # Once the worker is done, there is still exactly one.
    wait_for(
        lambda: not SurgeryPlan.objects.filter(pk=surgery.pk, stale_since__isnull=False).exists()
    )
    assert ClinicalEvent.objects.filter(surgery=surgery).count() == 1
    assert Checkpoint.objects.filter(surgery=surgery, kind="workup").count() == 1
