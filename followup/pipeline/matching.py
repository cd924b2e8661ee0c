"""Which exam satisfies which checkpoint: one function, whatever the entry path.

CLINICAL_RULES §2: an exam satisfies the earliest unsatisfied checkpoint whose window
contains it and whose modality fits. An exam that falls in no window can only satisfy,
late, the checkpoint whose window closed most recently before it, if that one is still
unsatisfied and fits; otherwise it satisfies nothing (a day-150 film is never the
baseline, a day-430 film is a late fusion assessment).

Several surgeries: an exam answers the checkpoints of every surgery of the patient it
comes after (and of its own surgery, which a film dated the surgery day belongs to),
by the same rule applied per surgery. So matching is done per patient.

The assignment is recomputed from all of the patient's exams in time order (ties
broken by accession number, a natural key), so the result never depends on the order
in which exams arrived, and running it twice changes nothing.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from followup.models import Checkpoint, CheckpointKind
from imaging.models import ImagingExam
from patients.models import Assessment, Surgery


@dataclass(frozen=True)
class Match:
    exam_id: int
    late: bool


def in_time_order(exams: Iterable[ImagingExam]) -> list[ImagingExam]:
    """Exams oldest first; two at the same time in accession order, whatever their ids."""
    return sorted(exams, key=lambda e: (e.performed_at, e.accession_number, e.pk))


def counts_for(exam: ImagingExam, surgery: Surgery) -> bool:
    """An exam answers a surgery it belongs to or comes after (CLINICAL_RULES §2)."""
    return exam.surgery_id == surgery.pk or exam.performed_at >= surgery.performed_at


def assign(checkpoints: Iterable[Checkpoint], exams: Iterable[ImagingExam]) -> dict[int, Match]:
    """Pure: checkpoint id -> the exam that satisfies it, for one surgery's checkpoints."""
    windows = sorted(
        (c for c in checkpoints if c.kind == CheckpointKind.EXAM),
        key=lambda c: (c.opens_at, c.due_at, c.code),
    )
    matches: dict[int, Match] = {}

    def free(c: Checkpoint, exam: ImagingExam) -> bool:
        return c.waived_at is None and c.pk not in matches and exam.modality in c.modalities

    for exam in in_time_order(exams):
        at = exam.performed_at
        inside = [c for c in windows if c.opens_at <= at < c.due_at]
        if inside:
            fitting = next((c for c in inside if free(c, exam)), None)
            if fitting is not None:
                matches[fitting.pk] = Match(exam.pk, late=False)
            continue
        closed = [c for c in windows if c.due_at <= at]
        if closed:
            last = max(closed, key=lambda c: (c.due_at, c.opens_at, c.code))
            if free(last, exam):
                matches[last.pk] = Match(exam.pk, late=True)
    return matches


def assign_workups(workups: Iterable[Checkpoint], exams: Iterable[ImagingExam]) -> dict[int, Match]:
    """Pure: each work-up gets the first fitting exam done after its event (late if after
    the due time). Work-ups are answered independently of the protocol's checkpoints: the
    CT that answers a new radicular pain can also be the bridging film."""
    exams = in_time_order(exams)
    used: set[int] = set()
    matches: dict[int, Match] = {}
    for workup in sorted(workups, key=lambda c: (c.opens_at, c.code, c.pk)):
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


def assign_proms(proms: Iterable[Checkpoint], assessments: Iterable[Assessment]) -> dict[int, int]:
    """Pure: each PROM time point gets the patient's first assessment inside its window
    (a PROM is never answered late: its link expires with the window). One assessment
    may answer the time points of several surgeries, as one film answers several."""
    ordered = sorted(assessments, key=lambda a: (a.assessed_at, a.pk))
    answers: dict[int, int] = {}
    for prom in proms:
        if prom.waived_at is not None:
            continue
        inside = next((a for a in ordered if prom.opens_at <= a.assessed_at < prom.due_at), None)
        if inside is not None:
            answers[prom.pk] = inside.pk
    return answers


@transaction.atomic
def rematch_proms(surgeries: Sequence[Surgery]) -> None:
    """Every PROM time point of these surgeries answered by the assessment in its window,
    in two queries and one update."""
    proms = list(Checkpoint.objects.filter(surgery__in=surgeries, kind=CheckpointKind.PROM))
    if not proms:
        return
    assessments = defaultdict(list)
    for a in Assessment.objects.filter(patient_id__in={p.patient_id for p in proms}).only(
        "pk", "patient_id", "assessed_at"
    ):
        assessments[a.patient_id].append(a)
    by_patient = defaultdict(list)
    for prom in proms:
        by_patient[prom.patient_id].append(prom)
    answers: dict[int, int] = {}
    for patient_id, theirs in by_patient.items():
        answers |= assign_proms(theirs, assessments[patient_id])
    changed = [p for p in proms if p.answered_by_id != answers.get(p.pk)]
    for prom in changed:
        prom.answered_by_id = answers.get(prom.pk)
    Checkpoint.objects.bulk_update(changed, ["answered_by"])


@transaction.atomic
def rematch_many(surgeries: Sequence[Surgery], now: datetime) -> None:
    """Match every exam of these surgeries' patients, in a fixed number of queries.

    `surgeries` must hold all the surgeries of their patients (the refresh loads them so).
    """
    checkpoints, exams = defaultdict(list), defaultdict(list)
    for checkpoint in Checkpoint.objects.filter(
        surgery__in=surgeries, kind__in=[CheckpointKind.EXAM, CheckpointKind.WORKUP]
    ):
        checkpoints[checkpoint.surgery_id].append(checkpoint)
    for exam in ImagingExam.objects.filter(patient_id__in={s.patient_id for s in surgeries}).only(
        "id", "patient_id", "surgery_id", "performed_at", "modality", "accession_number"
    ):
        exams[exam.patient_id].append(exam)

    workups, changed = defaultdict(list), []
    matches: dict[int, Match] = {}
    for surgery in surgeries:
        mine = checkpoints[surgery.pk]
        answering = [e for e in exams[surgery.patient_id] if counts_for(e, surgery)]
        matches |= assign(mine, answering)
        workups[surgery.patient_id] += [c for c in mine if c.kind == CheckpointKind.WORKUP]
    for patient_id, theirs in workups.items():
        matches |= assign_workups(theirs, exams[patient_id])

    for checkpoint in (c for mine in checkpoints.values() for c in mine):
        match = matches.get(checkpoint.pk)
        wanted = (match.exam_id, match.late) if match else (None, False)
        if (checkpoint.satisfied_by_id, checkpoint.late) == wanted:
            continue
        checkpoint.satisfied_by_id, checkpoint.late = wanted
        if match is None:
            # Un-matched (exam moved or re-dated): the sweep must look at it again.
            checkpoint.overdue_since = None
        changed.append(checkpoint)
    Checkpoint.objects.bulk_update(changed, ["satisfied_by", "late", "overdue_since"])
    rematch_proms(surgeries)
