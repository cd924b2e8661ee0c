"""Exams satisfy checkpoints by window and modality, late when no window holds them."""

from datetime import timedelta

import pytest

from followup.models import Alert, AlertStatus
from followup.pipeline import refresh, sweep
from imaging.models import ImagingExam
from tests import factories

from ..conftest import local

DAY0 = local("Europe/Paris", 2025, 1, 6, 9, 0)


@pytest.fixture
def fusion(protocols, paris):
    surgery = factories.surgery(factories.patient(paris), DAY0, procedure="tlif")
    refresh.refresh(surgery.pk, DAY0)
    return surgery


def exam_on(surgery, day: int, modality: str = "XR", **fields) -> ImagingExam:
    return factories.exam(
        surgery.patient, surgery, performed_at=DAY0 + timedelta(days=day, hours=2),
        modality=modality, **fields,
    )  # fmt: skip


def satisfied(surgery, now=None) -> dict[str, tuple[int | None, bool]]:
    refresh.refresh(surgery.pk, now or DAY0 + timedelta(days=800))
    return {c.code: (c.satisfied_by_id, c.late) for c in surgery.checkpoints.filter(kind="exam")}


def test_an_early_film_satisfies_the_baseline(fusion):
    film = exam_on(fusion, 10)
    assert satisfied(fusion)["baseline_film"] == (film.pk, False)


def test_a_film_at_day_60_is_a_late_baseline(fusion):
    film = exam_on(fusion, 60)
    result = satisfied(fusion)
    assert result["baseline_film"] == (film.pk, True)
    assert result["bridging_film"] == (None, False)


def test_a_film_at_day_180_is_the_bridging_film_and_the_baseline_stays_missing(fusion):
    film = exam_on(fusion, 180)
    result = satisfied(fusion)
    assert result["bridging_film"] == (film.pk, False)
    assert result["baseline_film"] == (None, False)


def test_mr_never_satisfies_the_fusion_assessment(fusion):
    exam_on(fusion, 365, modality="MR")
    assert satisfied(fusion)["fusion_assessment"] == (None, False)


def test_ct_satisfies_the_fusion_assessment_but_not_the_baseline(fusion):
    ct = exam_on(fusion, 5, modality="CT")
    ct_year = exam_on(fusion, 360, modality="CT")
    result = satisfied(fusion)
    assert result["baseline_film"] == (None, False)
    assert result["fusion_assessment"] == (ct_year.pk, False)
    assert ct.pk not in {exam for exam, _ in result.values()}


def test_one_exam_satisfies_one_checkpoint_the_earliest(fusion):
    first, second = exam_on(fusion, 3), exam_on(fusion, 20)
    result = satisfied(fusion)
    assert result["baseline_film"] == (first.pk, False)
    assert second.pk not in {exam for exam, _ in result.values()}


def by_day(surgery) -> dict[str, tuple[int | None, bool]]:
    """Which day's exam satisfies each checkpoint."""
    days = {e.pk: (e.performed_at - DAY0).days for e in surgery.exams.all()}
    return {code: (days.get(pk), late) for code, (pk, late) in satisfied(surgery).items()}


def test_exams_entered_out_of_order_give_the_same_result(fusion, paris):
    for day in (60, 180, 400):
        exam_on(fusion, day)
        refresh.refresh(fusion.pk, DAY0 + timedelta(days=day + 1))

    other = factories.surgery(factories.patient(paris), DAY0, procedure="tlif")
    refresh.refresh(other.pk, DAY0)
    for day in (400, 180, 60):
        exam_on(other, day)
        refresh.refresh(other.pk, DAY0 + timedelta(days=401))

    expected = {"baseline_film": (60, True), "bridging_film": (180, False),
                "fusion_assessment": (400, False)}  # fmt: skip
    assert by_day(fusion) == expected
    assert by_day(other) == expected


def test_deleting_an_exam_unmatches_it(fusion):
    film = exam_on(fusion, 10)
    assert satisfied(fusion)["baseline_film"] == (film.pk, False)
    film.delete()
    assert satisfied(fusion)["baseline_film"] == (None, False)


def test_deleting_the_late_exam_of_an_alerted_checkpoint_makes_it_overdue_and_alert_again(fusion):
    # CLINICAL_RULES §4: "an overdue checkpoint whose satisfying exam is deleted is overdue
    # again, and alerts again", whatever path deleted the exam (here the ORM, directly).
    later = DAY0 + timedelta(days=60)
    sweep.run(later)
    baseline = fusion.checkpoints.get(code="baseline_film")
    first = Alert.objects.get(checkpoint=baseline)
    film = exam_on(fusion, 55)
    refresh.refresh(fusion.pk, later)
    first.refresh_from_db()
    assert first.status == AlertStatus.RESOLVED

    film.delete()
    baseline.refresh_from_db()
    assert (baseline.satisfied_by_id, baseline.late, baseline.overdue_since) == (None, False, None)
    sweep.run(later + timedelta(minutes=5))
    again = Alert.objects.get(checkpoint=baseline, status=AlertStatus.OPEN)
    assert again.pk != first.pk


def test_re_dating_an_exam_re_matches_it(fusion):
    film = exam_on(fusion, 10)
    assert satisfied(fusion)["baseline_film"] == (film.pk, False)
    film.performed_at = DAY0 + timedelta(days=150)
    film.save()
    result = satisfied(fusion)
    assert result["baseline_film"] == (None, False)
    assert result["bridging_film"] == (film.pk, False)


def test_an_exam_attached_to_another_surgery_counts_when_it_comes_after_this_one(fusion):
    # CLINICAL_RULES §2, "Several surgeries": an exam satisfies fitting checkpoints of
    # every surgery of the patient whose windows contain it.
    other = factories.surgery(fusion.patient, DAY0 - timedelta(days=400), procedure="discectomy")
    film = factories.exam(fusion.patient, other, performed_at=DAY0 + timedelta(days=10))
    assert satisfied(fusion)["baseline_film"] == (film.pk, False)


def test_an_exam_before_this_surgery_does_not_count(fusion):
    other = factories.surgery(fusion.patient, DAY0 - timedelta(days=400), procedure="discectomy")
    factories.exam(fusion.patient, other, performed_at=DAY0 - timedelta(hours=3))
    assert satisfied(fusion)["baseline_film"] == (None, False)


def test_a_waived_checkpoint_is_not_matched(fusion):
    fusion.checkpoints.filter(code="baseline_film").update(waived_at=DAY0, waived_reason="x")
    film = exam_on(fusion, 10)
    result = satisfied(fusion)
    assert result["baseline_film"] == (None, False)
    assert film.pk not in {exam for exam, _ in result.values()}
