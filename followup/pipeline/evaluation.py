"""Running the findings rules over a patient's exams and keeping their alerts in step.

CLINICAL_RULES §2, "Several surgeries": an exam answers every surgery of the patient it
comes after; each finding is judged against the surgery that operated its level (the
most recent one that did), a finding without a level against the exam's own surgery.
So the rules run per patient: each exam is seen from each surgery it answers, with
the findings judged against that surgery, that surgery's baseline film and day count,
and the thresholds pinned when that surgery was planned.

Evaluating twice gives the same alerts: existing causes are updated, vanished ones
resolve themselves with a note saying why, and a cause that staff resolved is not
raised again from the same exam.
"""

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from followup import rules
from followup.models import (
    Alert,
    AlertStatus,
    Checkpoint,
    CheckpointDefinition,
    Thresholds,
    plan_of,
)
from followup.models.alerts import FINDING_CODES
from imaging.models import Finding, ImagingExam
from imaging.vocabulary import VOCABULARY
from patients import levels
from patients.models import Surgery

from .alerts_lifecycle import ACTIVE, auto_resolve
from .matching import counts_for, in_time_order
from .schedule import day_of

CAUSE_GONE = "Cause gone: no exam shows it any more (the finding was corrected or removed)."
EXAM_DELETED = "Cause gone: the exam that showed it was deleted."
MOVED = (
    "Cause moved: the exam now shows it for another surgery of the patient (the exam was "
    "moved, or the surgeries changed)."
)
# The protocol milestones that the rules' day limits are read from (one place: §2).
MILESTONE_LIMITS = {
    "early_changes_end": "early_changes_days",
    "gadolinium_cutoff": "gadolinium_cutoff_days",
}


def pinned_thresholds(surgeries: Sequence[Surgery]) -> dict[int, Thresholds]:
    """Each surgery's thresholds, by surgery id: the version pinned when it was planned
    (CLINICAL_RULES §4, "Numbers are pinned"), else (not planned yet) the clinic's
    version in force."""
    pins = {s.pk: plan_of(s).thresholds_id for s in surgeries}
    pinned = Thresholds.objects.in_bulk(set(pins.values()) - {None})
    unpinned = {s.clinic_id for s in surgeries if pins[s.pk] not in pinned}
    current = {c: Thresholds.objects.current(c) for c in unpinned}
    return {s.pk: pinned.get(pins[s.pk]) or current[s.clinic_id] for s in surgeries}


def limits_of(thresholds: Thresholds, milestones: dict[str, int]) -> rules.Limits:
    """The rules' numbers: the thresholds, and the day limits of the protocol's milestones
    (None where the protocol has none)."""
    numbers = {
        f: getattr(thresholds, f)
        for f in rules.Limits.__dataclass_fields__
        if f not in MILESTONE_LIMITS.values()
    }
    numbers |= {name: milestones.get(code) for code, name in MILESTONE_LIMITS.items()}
    return rules.Limits(**numbers)


@functools.cache
def _level(text: str) -> str:
    """The normalised level (a pure function of the text: a handful of spellings)."""
    try:
        return levels.normalise(text) if text else ""
    except ValidationError:
        return text  # stored before levels were validated: compared as written


def surgery_facts(surgery: Surgery, lumbar_vertebrae: int) -> rules.SurgeryFacts:
    spans = [_level(level) for level in surgery.levels]
    joints, vertebrae = [], []
    for span in spans:
        try:
            joints += levels.joints_of(span, lumbar_vertebrae)
            vertebrae += levels.vertebrae_of(span, lumbar_vertebrae)
        except ValidationError:
            continue
    return rules.SurgeryFacts(
        id=surgery.pk,
        procedure=surgery.procedure,
        family=surgery.family,
        levels=tuple(spans),
        hardware=tuple(surgery.hardware),
        joints=tuple(dict.fromkeys(joints)),
        vertebrae=tuple(dict.fromkeys(vertebrae)),
    )


def operated(facts: rules.SurgeryFacts, level: str) -> bool:
    """Did this surgery operate this level (a joint it spans, a vertebra it covers)?"""
    return level in facts.joints or level in facts.vertebrae


def _is_joint_code(code: str) -> bool:
    return VOCABULARY[code].level_kind == levels.LevelKind.JOINT


# What the rules and the alerts read of an exam.
EXAM_FIELDS = (
    "id", "clinic_id", "patient_id", "surgery_id", "modality", "contrast", "performed_at",
    "accession_number", "effective_dose_msv",
)  # fmt: skip


@dataclass
class _Patient:
    """What the rules of one patient read."""

    surgeries: list[Surgery]  # oldest first
    facts: dict[int, rules.SurgeryFacts]  # by surgery
    exams: list[ImagingExam]  # in time order
    findings: dict[int, list[Finding]]  # by exam
    baselines: dict[int, Checkpoint]  # surgery -> its `baseline_film` checkpoint


def _read(surgeries: Sequence[Surgery]) -> dict[int, _Patient]:
    """Everything the rules of these surgeries' patients read, in a fixed number of queries.
    `surgeries` holds all the surgeries of their patients."""
    patient_ids = {s.patient_id for s in surgeries}
    exams, findings = defaultdict(list), defaultdict(list)
    for exam in ImagingExam.objects.filter(patient_id__in=patient_ids).only(*EXAM_FIELDS):
        exams[exam.patient_id].append(exam)
    for finding in (
        Finding.objects.filter(exam__patient_id__in=patient_ids)
        .order_by("pk")
        .only("exam_id", "code", "value", "level", "side")
    ):
        findings[finding.exam_id].append(finding)
    baselines = {
        c.surgery_id: c
        for c in Checkpoint.objects.filter(surgery__in=surgeries, code="baseline_film")
    }
    mine = defaultdict(list)
    for surgery in sorted(surgeries, key=lambda s: (s.performed_at, s.pk)):
        mine[surgery.patient_id].append(surgery)
    return {
        patient_id: _Patient(
            surgeries=theirs,
            facts={s.pk: surgery_facts(s, s.patient.lumbar_vertebrae) for s in theirs},
            exams=in_time_order(exams[patient_id]),
            findings=findings,
            baselines={s.pk: baselines[s.pk] for s in theirs if s.pk in baselines},
        )
        for patient_id, theirs in mine.items()
    }


def _milestones(surgeries: Sequence[Surgery]) -> dict[int, dict[str, int]]:
    """Protocol id -> the due day of each of its milestones that the rules read."""
    found = defaultdict(dict)
    for protocol, code, day in CheckpointDefinition.objects.filter(
        protocol__in={plan_of(s).protocol_id for s in surgeries} - {None},
        code__in=MILESTONE_LIMITS,
    ).values_list("protocol_id", "code", "due_day"):
        found[protocol][code] = day
    return found


def _judged(
    patient: _Patient, exam: ImagingExam, answering: list[Surgery], own: Surgery
) -> dict[int, list[rules.Fact]]:
    """The exam's findings, by the surgery each is judged against, levels normalised."""
    judged = defaultdict(list)
    for finding in patient.findings.get(exam.pk, ()):
        level = _level(finding.level)
        target = own
        if level:
            target = next(
                (s for s in reversed(answering) if operated(patient.facts[s.pk], level)), own
            )
        elif _is_joint_code(finding.code):
            level = patient.facts[own.pk].single_joint  # §3: the one joint operated, if one
        judged[target.pk].append(rules.Fact(finding.code, finding.value, level, finding.side))
    return judged


def _exam_facts(
    exam: ImagingExam, surgery: Surgery, findings: Sequence[rules.Fact] = ()
) -> rules.ExamFacts:
    return rules.ExamFacts(
        id=exam.pk,
        modality=exam.modality,
        performed_at=exam.performed_at,
        day=day_of(surgery, exam.performed_at),
        contrast=exam.contrast,
        dose_msv=exam.effective_dose_msv,
        findings=tuple(findings),
    )


def contexts(patient: _Patient, limits: dict[int, rules.Limits]) -> list[rules.Context]:
    """Each exam seen from each surgery it answers."""
    by_id = {exam.pk: exam for exam in patient.exams}
    plain = [_exam_facts(exam, patient.surgeries[0]) for exam in patient.exams]
    doses = tuple((e.performed_at, e.dose_msv) for e in plain if e.dose_msv is not None)
    baselines = {}
    for surgery in patient.surgeries:
        checkpoint = patient.baselines.get(surgery.pk)
        film = by_id.get(checkpoint.satisfied_by_id) if checkpoint else None
        if film is not None:
            judged = _judged(patient, film, [surgery], surgery)[surgery.pk]
            baselines[surgery.pk] = _exam_facts(film, surgery, judged)
    found = []
    for index, exam in enumerate(patient.exams):
        answering = [s for s in patient.surgeries if counts_for(exam, s)]
        if not answering:
            continue  # before any surgery
        own = next((s for s in answering if s.pk == exam.surgery_id), answering[-1])
        judged = _judged(patient, exam, answering, own)
        fusions = tuple(patient.facts[s.pk] for s in answering if s.family == "fusion")
        for surgery in answering:
            checkpoint = patient.baselines.get(surgery.pk)
            missing = checkpoint and not checkpoint.satisfied_by_id and not checkpoint.waived_at
            context = rules.Context(
                surgery=patient.facts[surgery.pk],
                exam=_exam_facts(exam, surgery, judged.get(surgery.pk, ())),
                earlier=tuple(plain[:index]),
                later=tuple(plain[index + 1 :]),
                baseline=baselines.get(surgery.pk),
                limits=limits[surgery.pk],
                patient_doses=doses,
                own=surgery is own,
                baseline_due=checkpoint.due_at if missing else None,
                fusions=fusions,
            )
            if not rules.quiet_without_findings(context):
                found.append(context)
    return found


# (surgery id, or None for a cause about the patient; code; subject)
Cause = tuple[int | None, str, str]


def wanted_alerts(
    patient: _Patient, limits: dict[int, rules.Limits]
) -> dict[Cause, tuple[rules.Raised, int]]:
    """Each live cause -> what the latest exam showing it says about it."""
    wanted = {}
    for context in contexts(patient, limits):
        for raised in rules.run_all(context):
            surgery = None if raised.code in rules.PATIENT_CODES else context.surgery.id
            wanted[(surgery, raised.code, raised.subject)] = (raised, context.exam.id)
    return wanted


@transaction.atomic
def evaluate_many(
    surgeries: Sequence[Surgery], now: datetime, thresholds: dict[int, Thresholds]
) -> None:
    """Evaluate the patients of these surgeries (all of their surgeries, with each one's
    thresholds by surgery id) in a fixed number of queries."""
    patients = _read(surgeries)
    milestones = _milestones(surgeries)
    limits = {
        s.pk: limits_of(thresholds[s.pk], milestones.get(plan_of(s).protocol_id, {}))
        for s in surgeries
    }
    theirs = Alert.objects.filter(patient_id__in=patients, code__in=FINDING_CODES)
    active = defaultdict(dict)
    for alert in theirs.filter(ACTIVE):
        active[alert.patient_id][(alert.surgery_id, alert.code, alert.subject)] = alert
    # A cause staff closed is not raised again from the same exam.
    closed_by_staff = set(
        theirs.filter(status=AlertStatus.RESOLVED, auto_resolved=False).values_list(
            "surgery_id", "code", "subject", "exam_id"
        )
    )

    gone, to_create, to_update = defaultdict(list), [], []
    for patient_id, patient in patients.items():
        wanted = wanted_alerts(patient, limits)
        exams = {exam.pk: exam for exam in patient.exams}
        elsewhere = {(code, subject, exam) for (_, code, subject), (_, exam) in wanted.items()}
        for cause, alert in active[patient_id].items():
            if cause not in wanted:
                gone[_why_gone(alert, exams, elsewhere)].append(alert.pk)
        for cause, (raised, exam_id) in wanted.items():
            alert = active[patient_id].get(cause)
            says = (raised.severity, raised.message, exam_id)
            if alert is None:
                if (*cause, exam_id) not in closed_by_staff:
                    to_create.append(_new_alert(exams[exam_id], cause, raised))
            elif (alert.severity, alert.message, alert.exam_id) != says:
                alert.severity, alert.message, alert.exam_id = says
                alert.updated_at = now
                to_update.append(alert)
    for note, ids in gone.items():
        auto_resolve(Alert.objects.filter(pk__in=ids), now, note)
    Alert.objects.bulk_update(to_update, ["severity", "message", "exam", "updated_at"])
    # A concurrent evaluation of the same cause is a no-op, thanks to the unique index.
    Alert.objects.bulk_create(to_create, ignore_conflicts=True)


def _why_gone(alert: Alert, exams: dict[int, ImagingExam], elsewhere: set) -> str:
    if alert.exam_id not in exams:
        return EXAM_DELETED
    if (alert.code, alert.subject, alert.exam_id) in elsewhere:
        return MOVED
    return CAUSE_GONE


def _new_alert(exam: ImagingExam, cause: Cause, raised: rules.Raised) -> Alert:
    surgery_id, code, subject = cause
    return Alert(
        clinic_id=exam.clinic_id,
        patient_id=exam.patient_id,
        surgery_id=surgery_id,
        exam_id=exam.pk,
        code=code,
        subject=subject,
        severity=raised.severity,
        message=raised.message,
    )
