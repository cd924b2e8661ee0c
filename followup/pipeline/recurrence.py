"""Detected pain recurrences kept in step with the scores (CLINICAL_RULES §6; the pattern
itself is followup/rules/recurrence.py). The detected event lives only while the
scores show the pattern.
"""

from collections import defaultdict
from collections.abc import Sequence

from followup.models import Alert, Checkpoint, Thresholds
from followup.rules.recurrence import Score, recurrences
from patients.models import (
    Assessment,
    ClinicalEvent,
    EventCode,
    EventSource,
    ProcedureFamily,
    Surgery,
)

from .alerts_lifecycle import auto_resolve
from .schedule import day_of

WITHDRAWN = "Withdrawn: the pain scores no longer show a pain-free interval followed by recurrence."


def detect_many(surgeries: Sequence[Surgery], thresholds: dict[int, Thresholds], now) -> int:
    """Keep the detected `pain_recurrence` events of these fusions in step with their
    scores, in a fixed number of queries: one event per recurrence the scores show, and a
    detected event the scores no longer show is withdrawn (deleted, its work-up with it,
    its overdue alert resolved with that reason). Events staff recorded are never touched.
    `thresholds` are each surgery's, by surgery id. Returns how many events were added."""
    fusions = [s for s in surgeries if s.family == ProcedureFamily.FUSION]
    assessments = defaultdict(dict)
    for a in Assessment.objects.filter(surgery__in=fusions, nrs_back__isnull=False).only(
        "pk", "surgery_id", "assessed_at", "nrs_back"
    ):
        assessments[a.surgery_id][a.pk] = a
    detected = {
        (e.relief_assessment_id, e.recurrence_assessment_id): e.pk
        for e in ClinicalEvent.objects.filter(
            surgery__in=surgeries, source=EventSource.DETECTED, code=EventCode.PAIN_RECURRENCE
        )
    }
    events = []
    for surgery in fusions:
        limits, mine = thresholds[surgery.pk], assessments[surgery.pk]
        found = recurrences(
            (Score(a.pk, day_of(surgery, a.assessed_at), a.nrs_back) for a in mine.values()),
            pain_free=limits.pain_free_nrs,
            rise=limits.recurrence_rise_nrs,
            min_day=limits.recurrence_min_days,
        )
        for r in found:
            if detected.pop((r.relief, r.recurrence), None) is None:
                events.append(_event(surgery, mine[r.relief], mine[r.recurrence]))
    if detected:
        _withdraw(list(detected.values()), now)
    # bulk_create: no signal (this runs inside the refresh it would trigger); a recurrence
    # already recorded is skipped by the unique constraint on its assessment.
    return len(ClinicalEvent.objects.bulk_create(events, ignore_conflicts=True))


def _event(surgery: Surgery, relief: Assessment, recurrence: Assessment) -> ClinicalEvent:
    return ClinicalEvent(
        clinic_id=surgery.clinic_id,
        patient_id=surgery.patient_id,
        surgery=surgery,
        code=EventCode.PAIN_RECURRENCE,
        occurred_at=recurrence.assessed_at,
        source=EventSource.DETECTED,
        relief_assessment=relief,
        recurrence_assessment=recurrence,
        notes=(
            f"Back pain NRS {relief.nrs_back} then {recurrence.nrs_back}: pain-free interval "
            "followed by recurrence."
        ),
    )


def _withdraw(event_ids: list[int], now) -> None:
    workups = Checkpoint.objects.filter(event__in=event_ids)
    auto_resolve(Alert.objects.filter(checkpoint__in=workups), now, WITHDRAWN)
    ClinicalEvent.objects.filter(pk__in=event_ids).delete()
