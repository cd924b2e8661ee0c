"""A pain-free interval followed by recurrence (CLINICAL_RULES §6) records a pain_recurrence.

NRS back pain at 3 or less, later up by 2 points or more, at least 90 days after
surgery: for a fusion, a `pain_recurrence` event and its pseudarthrosis work-up.
"""

from datetime import timedelta

import pytest

from followup.models import Checkpoint
from followup.pipeline import refresh
from followup.rules.recurrence import Recurrence, Score, recurrences
from patients.models import Assessment, ClinicalEvent
from tests import factories

from ..conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)
LIMITS = {"pain_free": 3, "rise": 2, "min_day": 90}


def found(*points: tuple[int, int | None]) -> list[tuple[int, int]]:
    """(day, nrs_back) in order, ids 1..n; returns (relief id, recurrence id) pairs."""
    scores = [Score(id=n, day=day, nrs_back=nrs) for n, (day, nrs) in enumerate(points, 1)]
    return [(r.relief, r.recurrence) for r in recurrences(scores, **LIMITS)]


# --- The pure detector --------------------------------------------------------------------


def test_relief_then_recurrence_is_one_recurrence():
    assert found((-10, 8), (30, 5), (100, 2), (150, 6)) == [(3, 4)]


def test_the_relief_is_the_lowest_point_of_the_interval():
    assert found((30, 3), (60, 1), (100, 2), (150, 5)) == [(2, 4)]


def test_no_relief_no_recurrence():
    assert found((30, 6), (60, 4), (100, 7), (150, 9)) == []


def test_a_rise_of_one_point_is_noise():
    assert found((30, 3), (100, 4), (150, 3), (200, 4)) == []


def test_a_rise_within_the_pain_free_range_is_not_a_recurrence():
    assert found((30, 0), (100, 2), (150, 3)) == []


def test_a_recurrence_before_day_90_does_not_count():
    assert found((20, 2), (60, 6)) == []
    assert found((20, 2), (89, 6)) == []
    assert found((20, 2), (90, 6)) == [(1, 2)]


def test_two_separate_cycles_are_two_recurrences():
    assert found((30, 2), (120, 6), (200, 1), (300, 5)) == [(1, 2), (3, 4)]


def test_later_high_scores_without_a_new_relief_are_the_same_recurrence():
    assert found((30, 2), (120, 6), (150, 7), (200, 8), (250, 5), (300, 9)) == [(1, 2)]


def test_missing_back_scores_and_pre_operative_ones_are_ignored():
    assert found((-30, 1), (120, 6)) == []
    assert found((30, 2), (60, None), (120, 6)) == [(1, 3)]


def test_the_order_given_does_not_matter():
    scores = [Score(2, 150, 6), Score(1, 100, 2)]
    assert recurrences(scores, **LIMITS) == [Recurrence(relief=1, recurrence=2)]


# --- Through the database -----------------------------------------------------------------


def operated(clinic, procedure="tlif"):
    surgery = factories.surgery(factories.patient(clinic), DAY0, procedure=procedure)
    refresh.refresh(surgery.pk, DAY0)
    return surgery


def assess(surgery, day: int, nrs_back: int) -> Assessment:
    return Assessment.objects.create(
        patient=surgery.patient,
        surgery=surgery,
        assessed_at=DAY0 + timedelta(days=day),
        nrs_back=nrs_back,
        odi=30,
    )


def recurrences_of(surgery):
    return ClinicalEvent.objects.filter(surgery=surgery, code="pain_recurrence")


def test_a_fusion_with_relief_then_recurrence_gets_one_event_and_its_workup(protocols, paris):
    surgery = operated(paris)
    assess(surgery, 30, 5)
    relief = assess(surgery, 100, 2)
    rise = assess(surgery, 150, 6)

    refresh.refresh(surgery.pk, DAY0 + timedelta(days=150))

    event = recurrences_of(surgery).get()
    assert event.source == "detected"
    assert (event.relief_assessment, event.recurrence_assessment) == (relief, rise)
    assert event.occurred_at == rise.assessed_at
    assert event.patient == surgery.patient
    workup = Checkpoint.objects.get(event=event)
    assert (workup.kind, workup.code, workup.surgery) == ("workup", "pain_recurrence", surgery)
    assert set(workup.modalities) == {"XR", "CT"}
    assert workup.due_at == rise.assessed_at + timedelta(days=30)
    assert "flexion/extension" in workup.recommendation


def test_refreshing_again_or_a_higher_score_records_no_second_event(protocols, paris):
    surgery = operated(paris)
    assess(surgery, 100, 2)
    assess(surgery, 150, 6)
    refresh.refresh(surgery.pk, DAY0 + timedelta(days=150))
    refresh.refresh(surgery.pk, DAY0 + timedelta(days=151))

    assess(surgery, 180, 8)
    refresh.refresh(surgery.pk, DAY0 + timedelta(days=180))

    assert recurrences_of(surgery).count() == 1
    assert Checkpoint.objects.filter(surgery=surgery, kind="workup").count() == 1


def test_a_new_relief_and_recurrence_is_a_second_event(protocols, paris):
    surgery = operated(paris)
    for day, nrs in ((100, 2), (150, 6), (200, 1), (260, 5)):
        assess(surgery, day, nrs)
    refresh.refresh(surgery.pk, DAY0 + timedelta(days=260))

    assert recurrences_of(surgery).count() == 2
    assert Checkpoint.objects.filter(surgery=surgery, code="pain_recurrence").count() == 2


def test_a_recurrence_before_day_90_records_nothing(protocols, paris):
    surgery = operated(paris)
    assess(surgery, 20, 2)
    assess(surgery, 60, 7)
    refresh.refresh(surgery.pk, DAY0 + timedelta(days=60))

    assert not recurrences_of(surgery).exists()


@pytest.mark.parametrize("procedure", ["discectomy", "decompression", "vertebroplasty"])
def test_only_a_fusion_gets_one(protocols, paris, procedure):
    surgery = operated(paris, procedure)
    assess(surgery, 100, 2)
    assess(surgery, 150, 6)

    refresh.refresh(surgery.pk, DAY0 + timedelta(days=150))

    assert not recurrences_of(surgery).exists()
    assert not Checkpoint.objects.filter(surgery=surgery, kind="workup").exists()


def test_another_surgerys_scores_are_not_mixed_in(protocols, paris):
    first = operated(paris)
    second = factories.surgery(first.patient, DAY0 + timedelta(days=120), procedure="tlif")
    assess(first, 100, 2)  # relief after the first fusion
    assess(second, 150, 6)  # 30 days after the second: not a recurrence of either

    for surgery in (first, second):
        refresh.refresh(surgery.pk, DAY0 + timedelta(days=150))

    assert not ClinicalEvent.objects.filter(code="pain_recurrence").exists()
