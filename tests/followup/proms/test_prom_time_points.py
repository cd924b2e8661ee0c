"""PROM time points: planned from the protocol, answered by an assessment in their window,
never an overdue alert."""

from datetime import timedelta

import pytest

from followup.models import Alert, Checkpoint, CheckpointDefinition, CheckpointKind
from followup.pipeline import refresh, sweep
from patients.models import Assessment
from tests import factories
from tests.followup.conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)


@pytest.fixture
def fusion(protocols, paris):
    surgery = factories.surgery(factories.patient(paris), DAY0, procedure="tlif")
    refresh.refresh(surgery.pk, DAY0)
    return surgery


def proms(surgery) -> dict[str, Checkpoint]:
    return {c.code: c for c in Checkpoint.objects.filter(surgery=surgery, kind="prom")}


def score(surgery, at, **scores) -> Assessment:
    return Assessment.objects.create(
        patient=surgery.patient, surgery=surgery, assessed_at=at, **scores
    )


def test_an_assessment_in_the_window_answers_the_time_point_and_one_outside_does_not(fusion):
    in_window = score(fusion, DAY0 + timedelta(days=90), nrs_back=3)
    score(fusion, DAY0 + timedelta(days=200), nrs_back=2)  # between 3 and 12 months
    refresh.refresh(fusion.pk, DAY0 + timedelta(days=201))

    found = proms(fusion)
    assert found["prom_3m"].answered_by_id == in_window.pk
    assert found["prom_3m"].status_at(DAY0 + timedelta(days=201)) == "satisfied"
    assert found["prom_3m"].satisfied_by_id is None  # satisfied_by stays an exam's
    assert found["prom_6w"].answered_by_id is None
    assert found["prom_12m"].answered_by_id is None


def test_a_baseline_before_surgery_answers_the_baseline(fusion):
    before = score(fusion, DAY0 - timedelta(days=10), nrs_back=8, odi=52)
    refresh.refresh(fusion.pk, DAY0 + timedelta(days=1))
    assert proms(fusion)["prom_baseline"].answered_by_id == before.pk


def test_deleting_the_assessment_leaves_the_time_point_unanswered_again(fusion):
    answer = score(fusion, DAY0 + timedelta(days=40), nrs_back=4)
    refresh.refresh(fusion.pk, DAY0 + timedelta(days=41))
    assert proms(fusion)["prom_6w"].answered_by_id == answer.pk
    answer.delete()
    refresh.refresh(fusion.pk, DAY0 + timedelta(days=41))
    assert proms(fusion)["prom_6w"].answered_by_id is None


def test_a_missed_prom_raises_no_overdue_alert(fusion):
    sweep.run(DAY0 + timedelta(days=800))
    missed = proms(fusion)
    assert all(c.status_at(DAY0 + timedelta(days=800)) == "overdue" for c in missed.values())
    assert not Alert.objects.filter(checkpoint__kind=CheckpointKind.PROM).exists()


def test_only_a_prom_opens_before_surgery():
    from django.core.exceptions import ValidationError

    exam = CheckpointDefinition(code="x", label="x", kind="exam", opens_day=-3, due_day=4,
                                modalities=["XR"])  # fmt: skip
    with pytest.raises(ValidationError, match="Only a PROM"):
        exam.clean()
    prom = CheckpointDefinition(code="p", label="p", kind="prom", opens_day=-3, due_day=4)
    with pytest.raises(ValidationError, match="at least one instrument"):
        prom.clean()
    prom.instruments = ["nrs_back"]
    prom.clean()


def test_the_api_lists_prom_time_points_by_kind(integration_a, protocols, clinic_a):
    surgery = factories.surgery(factories.patient(clinic_a), DAY0, procedure="tlif")
    refresh.refresh(surgery.pk, DAY0)
    rows = integration_a.api.get(f"/api/v1/checkpoints/?surgery={surgery.pk}&kind=prom").json()
    assert {r["code"] for r in rows["results"]} == {
        "prom_baseline", "prom_6w", "prom_3m", "prom_12m", "prom_2y",
    }  # fmt: skip
    assert {r["kind"] for r in rows["results"]} == {"prom"}
    assert all("answered_by" in r and r["instruments"] for r in rows["results"])
