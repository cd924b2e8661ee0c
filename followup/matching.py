"""Which exam satisfies which checkpoint: one function, whatever the entry path.

CLINICAL_RULES §2: an exam satisfies the earliest unsatisfied checkpoint of its
surgery whose window contains it and whose modality fits; only when no window
contains it does it satisfy, late, the earliest overdue checkpoint it fits.

The assignment is recomputed from all of the surgery's exams in time order, so the
result never depends on the order in which exams arrived, and running it twice
changes nothing.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from imaging.models import ImagingExam
from patients.models import Surgery

from .alerts_lifecycle import resolve_checkpoint_alerts
from .models import Checkpoint, CheckpointKind


@dataclass(frozen=True)
class Match:
    exam_id: int
    late: bool


def assign(checkpoints: Iterable[Checkpoint], exams: Iterable[ImagingExam]) -> dict[int, Match]:
    """Pure: checkpoint id -> the exam that satisfies it."""
    candidates = sorted(
        (c for c in checkpoints if c.kind == CheckpointKind.EXAM and c.waived_at is None),
        key=lambda c: (c.opens_at, c.due_at, c.pk),
    )
    matches: dict[int, Match] = {}
    for exam in sorted(exams, key=lambda e: (e.performed_at, e.pk)):
        fitting = [c for c in candidates if c.pk not in matches and exam.modality in c.modalities]
        inside = [c for c in fitting if c.opens_at <= exam.performed_at < c.due_at]
        if inside:
            matches[inside[0].pk] = Match(exam.pk, late=False)
            continue
        overdue = [c for c in fitting if c.due_at <= exam.performed_at]
        if overdue:
            matches[overdue[0].pk] = Match(exam.pk, late=True)
    return matches


def assign_workups(workups: Iterable[Checkpoint], exams: Iterable[ImagingExam]) -> dict[int, Match]:
    """Pure: each work-up gets the first fitting exam done after its event (late if after
    the due time). Work-ups are answered independently of the protocol's checkpoints: the
    CT that answers a new radicular pain can also be the bridging film."""
    exams = sorted(exams, key=lambda e: (e.performed_at, e.pk))
    used: set[int] = set()
    matches: dict[int, Match] = {}
    for workup in sorted(workups, key=lambda c: (c.opens_at, c.pk)):
        if workup.waived_at is not None:
            continue
        for exam in exams:
            if exam.pk in used or exam.modality not in workup.modalities:
                continue
            if exam.performed_at >= workup.opens_at:
                matches[workup.pk] = Match(exam.pk, late=exam.performed_at >= workup.due_at)
                used.add(exam.pk)
                break
    return matches


@transaction.atomic
def rematch(surgery: Surgery, now: datetime) -> None:
    rematch_many([surgery], now)


@transaction.atomic
def rematch_many(surgeries: Sequence[Surgery], now: datetime) -> None:
    """`rematch` for many surgeries in a fixed number of queries."""
    checkpoints, exams = defaultdict(list), defaultdict(list)
    for checkpoint in Checkpoint.objects.filter(
        surgery__in=surgeries, kind__in=[CheckpointKind.EXAM, CheckpointKind.WORKUP]
    ):
        checkpoints[checkpoint.surgery_id].append(checkpoint)
    for exam in ImagingExam.objects.filter(surgery__in=surgeries).only(
        "id", "surgery_id", "performed_at", "modality"
    ):
        exams[exam.surgery_id].append(exam)

    changed, newly_satisfied = [], []
    for surgery in surgeries:
        mine = checkpoints[surgery.pk]
        matches = assign([c for c in mine if c.kind == CheckpointKind.EXAM], exams[surgery.pk])
        matches |= assign_workups(
            [c for c in mine if c.kind == CheckpointKind.WORKUP], exams[surgery.pk]
        )
        for checkpoint in mine:
            match = matches.get(checkpoint.pk)
            wanted = (match.exam_id, match.late) if match else (None, False)
            if (checkpoint.satisfied_by_id, checkpoint.late) == wanted:
                continue
            was_satisfied = checkpoint.satisfied_by_id is not None
            checkpoint.satisfied_by_id, checkpoint.late = wanted
            if match and not was_satisfied:
                newly_satisfied.append(checkpoint)
            if match is None:
                # Un-matched (exam deleted or re-dated): the sweep must look at it again.
                checkpoint.overdue_since = None
            changed.append(checkpoint)
    Checkpoint.objects.bulk_update(changed, ["satisfied_by", "late", "overdue_since"])
    resolve_checkpoint_alerts(newly_satisfied, now, "Satisfied by an exam.")
