"""With a real worker on Redis: posting a surgery through the API schedules its checkpoints."""

import time

import pytest

from followup.models import Checkpoint, SurgeryPlan
from tests import factories


def wait_for(condition, timeout: float = 60.0):
    """Poll the database while a separate worker process does its work."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError("the worker did not do the work in time")


@pytest.mark.django_db(transaction=True)
def test_a_surgery_posted_through_the_api_is_scheduled_by_the_worker(
    celery_worker_process, protocols, integration_a
):
    patient = factories.patient(integration_a.clinic)

    response = integration_a.api.post(
        "/api/v1/surgeries/",
        {"patient": patient.pk, "performed_at": "2026-01-05T09:00:00+01:00", "procedure": "tlif",
         "levels": ["L4-L5"], "hardware": ["pedicle_screws", "rods", "interbody_cage"]},
        format="json",
    )  # fmt: skip

    assert response.status_code == 201, response.content
    surgery_id = response.json()["id"]
    codes = wait_for(
        lambda: set(Checkpoint.objects.filter(surgery_id=surgery_id).values_list("code", flat=True))
    )
    assert codes == {
        "baseline_film", "bridging_film", "fusion_assessment", "gadolinium_cutoff",
        "early_changes_end", "prom_baseline", "prom_6w", "prom_3m", "prom_12m", "prom_2y",
    }  # fmt: skip
    wait_for(
        lambda: not SurgeryPlan.objects.filter(pk=surgery_id, stale_since__isnull=False).exists()
    )

    exam = integration_a.api.post(
        "/api/v1/exams/",
        {"patient": patient.pk, "modality": "XR", "performed_at": "2026-01-20T10:00:00+01:00",
         "accession_number": "W-1"},
        format="json",
    )  # fmt: skip
    assert exam.status_code == 201
    baseline = wait_for(
        lambda: Checkpoint.objects.filter(
            surgery_id=surgery_id, code="baseline_film", satisfied_by__isnull=False
        ).first()
    )
    assert baseline.satisfied_by_id == exam.json()["id"]
