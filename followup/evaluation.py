"""Running the findings rules over a surgery's exams and keeping its alerts in step.

The rules see each exam in its place in time (with the exams before it and the
baseline film), so an old exam entered late is evaluated where it belongs and the
later comparisons are redone. Evaluating twice gives the same alerts: existing
causes are updated, vanished ones resolve themselves with a note, and a cause that
staff resolved is not raised again from the same exam.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from imaging.models import Finding, ImagingExam
from patients.models import Surgery

from . import rules
from .alerts_lifecycle import ACTIVE, auto_resolve
from .models import Alert, AlertStatus, Checkpoint, Thresholds
from .models.alerts import FINDING_CODES
from .schedule import day_of

CAUSE_GONE = "Cause gone: no exam of this surgery shows it any more (finding changed or removed)."


def limits_of(thresholds: Thresholds) -> rules.Limits:
    return rules.Limits(**{f: getattr(thresholds, f) for f in rules.Limits.__dataclass_fields__})


def current_limits(surgeries: Sequence[Surgery]) -> dict[int, Thresholds]:
    """The thresholds in force in each of these surgeries' clinics."""
    return {c: Thresholds.objects.current(c) for c in {s.clinic_id for s in surgeries}}


def exam_facts(exam: ImagingExam, surgery: Surgery, findings: Sequence[Finding]) -> rules.ExamFacts:
    return rules.ExamFacts(
        id=exam.pk,
        modality=exam.modality,
        performed_at=exam.performed_at,
        day=day_of(surgery, exam.performed_at),
        contrast=exam.contrast,
        dose_msv=exam.effective_dose_msv,
        findings=tuple(rules.Fact(f.code, f.value, f.level, f.side) for f in findings),
    )


def baseline_of(exams: list[rules.ExamFacts], satisfied_by: int | None) -> rules.ExamFacts | None:
    """The exam that satisfied `baseline_film`, else the earliest post-operative film."""
    by_id = {exam.id: exam for exam in exams}
    if satisfied_by in by_id:
        return by_id[satisfied_by]
    return next((exam for exam in exams if exam.modality in rules.FILMS and exam.day >= 0), None)


@dataclass
class _Facts:
    """What the rules of a set of surgeries read, in a fixed number of queries."""

    exams: dict[int, list[ImagingExam]]  # by surgery, in time order
    findings: dict[int, list[Finding]]  # by exam
    baselines: dict[int, int | None]  # surgery -> the exam that satisfied `baseline_film`
    doses: dict[int, tuple]  # patient -> (performed_at, dose) of every exam with a dose

    @classmethod
    def read(cls, surgeries: Sequence[Surgery]) -> "_Facts":
        exams, findings, doses = defaultdict(list), defaultdict(list), defaultdict(list)
        in_time_order = ImagingExam.objects.order_by("performed_at", "pk")
        for exam in in_time_order.filter(surgery__in=surgeries):
            exams[exam.surgery_id].append(exam)
        for finding in Finding.objects.filter(exam__surgery__in=surgeries).order_by("pk"):
            findings[finding.exam_id].append(finding)
        baselines = dict(
            Checkpoint.objects.filter(surgery__in=surgeries, code="baseline_film").values_list(
                "surgery_id", "satisfied_by_id"
            )
        )
        for patient, *dose in ImagingExam.objects.filter(
            patient_id__in={s.patient_id for s in surgeries}, effective_dose_msv__isnull=False
        ).values_list("patient_id", "performed_at", "effective_dose_msv"):
            doses[patient].append(tuple(dose))
        return cls(exams, findings, baselines, {p: tuple(d) for p, d in doses.items()})


def contexts(surgery: Surgery, facts: _Facts, limits: rules.Limits) -> list[rules.Context]:
    exams = [
        exam_facts(exam, surgery, facts.findings.get(exam.pk, ()))
        for exam in facts.exams.get(surgery.pk, ())
    ]
    baseline_exam = facts.baselines.get(surgery.pk)
    surgery_facts = rules.SurgeryFacts(
        id=surgery.pk,
        procedure=surgery.procedure,
        family=surgery.family,
        levels=tuple(surgery.levels),
        hardware=tuple(surgery.hardware),
    )
    baseline = baseline_of(exams, baseline_exam)
    return [
        rules.Context(
            surgery=surgery_facts,
            exam=exam,
            earlier=tuple(exams[:index]),
            later=tuple(exams[index + 1 :]),
            baseline=baseline,
            baseline_checkpoint_exam=baseline_exam,
            limits=limits,
            patient_doses=facts.doses.get(surgery.patient_id, ()),
        )
        for index, exam in enumerate(exams)
    ]


def wanted_alerts(
    surgery: Surgery, facts: _Facts, limits: rules.Limits
) -> dict[tuple[str, str], tuple[rules.Raised, int]]:
    """(code, subject) -> what the latest exam showing that cause says about it."""
    wanted = {}
    for context in contexts(surgery, facts, limits):
        for raised in rules.run_all(context):
            wanted[(raised.code, raised.subject)] = (raised, context.exam.id)
    return wanted


@transaction.atomic
def evaluate(surgery: Surgery, now: datetime) -> None:
    evaluate_many([surgery], now, current_limits([surgery]))


@transaction.atomic
def evaluate_many(
    surgeries: Sequence[Surgery], now: datetime, thresholds: dict[int, Thresholds]
) -> None:
    """`evaluate` for many surgeries in a fixed number of queries."""
    facts = _Facts.read(surgeries)
    mine = Alert.objects.filter(surgery__in=surgeries, code__in=FINDING_CODES)
    active = defaultdict(dict)
    for alert in mine.filter(ACTIVE):
        active[alert.surgery_id][(alert.code, alert.subject)] = alert
    # A cause staff closed is not raised again from the same exam.
    closed_by_staff = set(
        mine.filter(status=AlertStatus.RESOLVED, auto_resolved=False).values_list(
            "surgery_id", "code", "subject", "exam_id"
        )
    )

    gone, to_create, to_update = [], [], []
    for surgery in surgeries:
        wanted = wanted_alerts(surgery, facts, limits_of(thresholds[surgery.clinic_id]))
        gone += [alert.pk for key, alert in active[surgery.pk].items() if key not in wanted]
        for key, (raised, exam_id) in wanted.items():
            alert = active[surgery.pk].get(key)
            says = (raised.severity, raised.message, exam_id)
            if alert is None:
                if (surgery.pk, *key, exam_id) not in closed_by_staff:
                    to_create.append(_new_alert(surgery, raised, exam_id))
            elif (alert.severity, alert.message, alert.exam_id) != says:
                alert.severity, alert.message, alert.exam_id = says
                alert.updated_at = now
                to_update.append(alert)
    auto_resolve(Alert.objects.filter(pk__in=gone), now, CAUSE_GONE)
    Alert.objects.bulk_update(to_update, ["severity", "message", "exam", "updated_at"])
    # A concurrent evaluation of the same cause is a no-op, thanks to the unique index.
    Alert.objects.bulk_create(to_create, ignore_conflicts=True)


def _new_alert(surgery: Surgery, raised: rules.Raised, exam_id: int) -> Alert:
    return Alert(
        clinic_id=surgery.clinic_id,
        patient_id=surgery.patient_id,
        surgery=surgery,
        exam_id=exam_id,
        code=raised.code,
        subject=raised.subject,
        severity=raised.severity,
        message=raised.message,
    )
