"""Running the findings rules over a surgery's exams and keeping its alerts in step.

The rules see each exam in its place in time (with the exams before it and the
baseline film), so an old exam entered late is evaluated where it belongs and the
later comparisons are redone. Evaluating twice gives the same alerts: existing
causes are updated, vanished ones resolve themselves with a note, and a cause that
staff resolved is not raised again from the same exam.
"""

from datetime import datetime

from django.db import transaction

from imaging.models import ImagingExam
from patients.models import Surgery

from . import rules
from .alerts_lifecycle import ACTIVE, auto_resolve
from .models import Alert, AlertStatus, Thresholds
from .models.alerts import FINDING_CODES
from .schedule import day_of

CAUSE_GONE = "Cause gone: no exam of this surgery shows it any more (finding changed or removed)."


def limits_of(thresholds: Thresholds) -> rules.Limits:
    return rules.Limits(**{f: getattr(thresholds, f) for f in rules.Limits.__dataclass_fields__})


def exam_facts(exam: ImagingExam, surgery: Surgery) -> rules.ExamFacts:
    return rules.ExamFacts(
        id=exam.pk,
        modality=exam.modality,
        performed_at=exam.performed_at,
        day=day_of(surgery, exam.performed_at),
        contrast=exam.contrast,
        dose_msv=exam.effective_dose_msv,
        findings=tuple(rules.Fact(f.code, f.value, f.level, f.side) for f in exam.findings.all()),
    )


def baseline_of(exams: list[rules.ExamFacts], satisfied_by: int | None) -> rules.ExamFacts | None:
    """The exam that satisfied `baseline_film`, else the earliest post-operative film."""
    by_id = {exam.id: exam for exam in exams}
    if satisfied_by in by_id:
        return by_id[satisfied_by]
    return next((exam for exam in exams if exam.modality in rules.FILMS and exam.day >= 0), None)


def contexts(surgery: Surgery) -> list[rules.Context]:
    exams = [
        exam_facts(exam, surgery)
        for exam in ImagingExam.objects.filter(surgery=surgery)
        .prefetch_related("findings")
        .order_by("performed_at", "pk")
    ]
    baseline_exam = (
        surgery.checkpoints.filter(code="baseline_film")
        .values_list("satisfied_by_id", flat=True)
        .first()
    )
    doses = tuple(
        ImagingExam.objects.filter(
            patient_id=surgery.patient_id, effective_dose_msv__isnull=False
        ).values_list("performed_at", "effective_dose_msv")
    )
    facts = rules.SurgeryFacts(
        id=surgery.pk,
        procedure=surgery.procedure,
        family=surgery.family,
        levels=tuple(surgery.levels),
        hardware=tuple(surgery.hardware),
    )
    limits = limits_of(Thresholds.objects.current(surgery.clinic_id))
    baseline = baseline_of(exams, baseline_exam)
    return [
        rules.Context(
            surgery=facts,
            exam=exam,
            earlier=tuple(exams[:index]),
            later=tuple(exams[index + 1 :]),
            baseline=baseline,
            baseline_checkpoint_exam=baseline_exam,
            limits=limits,
            patient_doses=doses,
        )
        for index, exam in enumerate(exams)
    ]


def wanted_alerts(surgery: Surgery) -> dict[tuple[str, str], tuple[rules.Raised, int]]:
    """(code, subject) -> what the latest exam showing that cause says about it."""
    wanted = {}
    for context in contexts(surgery):
        for raised in rules.run_all(context):
            wanted[(raised.code, raised.subject)] = (raised, context.exam.id)
    return wanted


@transaction.atomic
def evaluate(surgery: Surgery, now: datetime) -> None:
    wanted = wanted_alerts(surgery)
    mine = Alert.objects.filter(surgery=surgery, code__in=FINDING_CODES)
    active = {(a.code, a.subject): a for a in mine.filter(ACTIVE)}
    # A cause staff closed is not raised again from the same exam.
    closed_by_staff = set(
        mine.filter(status=AlertStatus.RESOLVED, auto_resolved=False).values_list(
            "code", "subject", "exam_id"
        )
    )

    gone = [alert.pk for key, alert in active.items() if key not in wanted]
    auto_resolve(Alert.objects.filter(pk__in=gone), now, CAUSE_GONE)

    to_create, to_update = [], []
    for key, (raised, exam_id) in wanted.items():
        alert = active.get(key)
        if alert is None:
            if (*key, exam_id) not in closed_by_staff:
                to_create.append(_new_alert(surgery, raised, exam_id))
        elif (alert.severity, alert.message, alert.exam_id) != (raised.severity, raised.message,
                                                               exam_id):  # fmt: skip
            alert.severity, alert.message, alert.exam_id = raised.severity, raised.message, exam_id
            alert.updated_at = now
            to_update.append(alert)
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
