"""A pain-free interval followed by recurrence (CLINICAL_RULES §6).

Back pain (NRS) that fell to the pain-free level or below and later rose by the
recurrence rise or more, at least `recurrence_min_days` after surgery, is a
recurrence. A new recurrence needs a new pain-free interval first, so one
recurrence is found once, not at every later assessment.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    id: int
    day: int  # days since surgery
    nrs_back: int | None


@dataclass(frozen=True)
class Recurrence:
    relief: int  # the assessment that showed the pain-free interval (its lowest point)
    recurrence: int  # the assessment that showed the rise


def recurrences(
    scores: Iterable[Score], *, pain_free: int, rise: int, min_day: int
) -> list[Recurrence]:
    found: list[Recurrence] = []
    nadir: Score | None = None  # lowest pain since the interval began
    for score in sorted(scores, key=lambda s: (s.day, s.id)):
        if score.nrs_back is None or score.day < 0:
            continue
        if score.nrs_back <= pain_free:
            if nadir is None or score.nrs_back < nadir.nrs_back:
                nadir = score
        elif nadir is not None and score.nrs_back >= nadir.nrs_back + rise:
            if score.day >= min_day:
                found.append(Recurrence(relief=nadir.id, recurrence=score.id))
            nadir = None  # a later recurrence needs a new pain-free interval
    return found


def detect(surgery, limits) -> int:
    """Record a `pain_recurrence` event for each recurrence not yet recorded (fusions only)."""
    return detect_many([surgery], {surgery.clinic_id: limits})


def detect_many(surgeries, limits_by_clinic: dict) -> int:
    """`detect` for many surgeries in a fixed number of queries."""
    from patients.models import Assessment, ClinicalEvent, EventCode, EventSource, ProcedureFamily

    from .schedule import day_of

    fusions = [s for s in surgeries if s.family == ProcedureFamily.FUSION]
    if not fusions:
        return 0
    assessments = defaultdict(dict)
    for a in Assessment.objects.filter(surgery__in=fusions, nrs_back__isnull=False).only(
        "pk", "surgery_id", "assessed_at", "nrs_back"
    ):
        assessments[a.surgery_id][a.pk] = a
    events = []
    for surgery in fusions:
        limits, mine = limits_by_clinic[surgery.clinic_id], assessments[surgery.pk]
        found = recurrences(
            (Score(a.pk, day_of(surgery, a.assessed_at), a.nrs_back) for a in mine.values()),
            pain_free=limits.pain_free_nrs,
            rise=limits.recurrence_rise_nrs,
            min_day=limits.recurrence_min_days,
        )
        events += [
            ClinicalEvent(
                clinic_id=surgery.clinic_id,
                patient_id=surgery.patient_id,
                surgery=surgery,
                code=EventCode.PAIN_RECURRENCE,
                occurred_at=mine[r.recurrence].assessed_at,
                source=EventSource.DETECTED,
                relief_assessment_id=r.relief,
                recurrence_assessment_id=r.recurrence,
                notes=(
                    f"Back pain NRS {mine[r.relief].nrs_back} then "
                    f"{mine[r.recurrence].nrs_back}: pain-free interval followed by recurrence."
                ),
            )
            for r in found
        ]
    # bulk_create: no signal (this runs inside the refresh it would trigger); a recurrence
    # already recorded is skipped by the unique constraint on its assessment.
    return len(ClinicalEvent.objects.bulk_create(events, ignore_conflicts=True))
