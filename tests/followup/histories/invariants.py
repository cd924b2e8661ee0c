"""CLINICAL_RULES §4: "No alert stays open without a live cause, and no live cause is left
without its alert"; "the same cause never raises two open alerts".

Checked from the database after every step of a story: a spot check written from the
clinical text, independent of how the follow-up code keeps its alerts.
"""

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from followup.models import Alert, AlertStatus, Checkpoint, Thresholds
from followup.models.checkpoints import UNRESOLVED
from imaging.models import Finding, ImagingExam
from patients.levels import vertebrae_of
from patients.models import Patient, Surgery

FILMS = ("XR", "CT")
DEADLINE_CODES = ("checkpoint_overdue", "workup_overdue")
# Alert codes whose cause is about one surgery as a whole, not a place in the spine.
PER_SURGERY = ("baseline_missing",)


def _is(value, *wanted) -> bool:
    return value in wanted


def _number(value) -> Decimal:
    return Decimal(str(value))


# Alert code -> does this finding show its cause? (§4's conditions on one finding.)
SHOWN_BY: dict[str, Callable[[Finding], bool]] = {
    "screw_loosening": lambda f: f.code == "screw_lucency_mm" and _number(f.value) > 2,
    "periscrew_infection": lambda f: f.code == "periscrew_margin" and f.value == "ill_defined",
    "delayed_fusion": lambda f: f.code == "bridging" and f.value == "none",
    "pseudarthrosis_suspected": lambda f: f.code == "bridging" and _is(f.value, "none", "partial"),
    "micromotion": lambda f: f.code in ("vacuum_disc", "vacuum_facet") and f.value is True,
    "locked_pseudarthrosis": lambda f: f.code == "vacuum_spacer_only" and f.value is True,
    "spacer_too_posterior": lambda f: (
        f.code == "spacer_posterior_distance_mm" and _number(f.value) < 2
    ),
    "spacer_migration": lambda f: f.code == "spacer_posterior_distance_mm",
    "hardware_fracture": lambda f: f.code in ("rod_fracture", "screw_fracture") and f.value is True,
    "screw_misplaced": lambda f: f.code == "screw_in_canal" and f.value is True,
    "abscess": lambda f: f.code == "fluid_collection" and f.value == "abscess",
    "pseudomeningocele": lambda f: f.code == "fluid_collection" and f.value == "pseudomeningocele",
    "radiculitis_possible": lambda f: f.code == "root_enhancement" and f.value is True,
    "herniation_recurrence": lambda f: (
        f.code == "disc_herniation" and f.value == "different_from_preop"
    ),
    "contrast_needed": lambda f: f.code == "disc_herniation" and f.value == "similar_to_preop",
    "bone_scan_early": lambda f: f.code == "bone_scan_uptake" and f.value is True,
    "new_fracture": lambda f: f.code in ("pars_fracture", "vertebral_fracture") and f.value is True,
    "adjacent_segment": lambda f: f.code == "adjacent_segment_degeneration" and f.value is True,
    "sagittal_malalignment": lambda f: f.code in ("pelvic_incidence_deg", "lumbar_lordosis_deg"),
}


def _local_day(when: datetime, patient: Patient):
    return timezone.localtime(when, patient.clinic.zone).date()


def _operates(surgery: Surgery, level: str) -> bool:
    """Did this surgery operate the joint or vertebra `level`? (`L3-L5` holds `L3-L4`.)"""
    wanted = set(vertebrae_of(level))
    return any(wanted <= set(vertebrae_of(span)) for span in surgery.levels)


def judged_surgery(exam: ImagingExam, finding: Finding, surgeries: list[Surgery]) -> int | None:
    """§2 "Several surgeries": the most recent surgery, done by the exam's day, that operated
    the finding's level; without a level (or none did), the exam's own surgery."""
    if finding.level:
        day = _local_day(exam.performed_at, exam.patient)
        done = [s for s in surgeries if _local_day(s.performed_at, exam.patient) <= day]
        operated = [s for s in done if _operates(s, finding.level)]
        if operated:
            return max(operated, key=lambda s: (s.performed_at, s.pk)).pk
    return exam.surgery_id


def _deadline_problem(alert: Alert, now: datetime) -> str | None:
    if alert.checkpoint_id is None:
        return "its checkpoint is gone"
    checkpoint = Checkpoint.objects.filter(pk=alert.checkpoint_id).first()
    if checkpoint is None:
        return "its checkpoint is gone"
    if checkpoint.surgery_id != alert.surgery_id:
        return f"its checkpoint belongs to surgery {checkpoint.surgery_id}"
    if checkpoint.waived_at is not None:
        return "its checkpoint was waived"
    if checkpoint.satisfied_by_id is not None:
        return f"its checkpoint is satisfied by exam {checkpoint.satisfied_by_id}"
    if checkpoint.overdue_at > now:
        return f"its checkpoint is not overdue before {checkpoint.overdue_at}"
    return None


def _baseline_missing_problem(alert: Alert, now: datetime) -> str | None:
    baseline = Checkpoint.objects.filter(surgery_id=alert.surgery_id, code="baseline_film").first()
    if baseline is None:
        return "the surgery has no baseline checkpoint"
    if baseline.waived_at is not None:
        return "the baseline was waived"
    if baseline.satisfied_by_id is not None:
        return f"the baseline is satisfied by exam {baseline.satisfied_by_id}"
    if baseline.due_at > now:
        return "the baseline window is still open"
    later_film = ImagingExam.objects.filter(
        patient_id=alert.patient_id, modality__in=FILMS, performed_at__gte=baseline.due_at
    )
    if not later_film.exists():
        return "no fusion film after the baseline window"
    return None


def _dose_problem(alert: Alert) -> str | None:
    if alert.exam_id is None:
        return "its exam is gone"
    exam = ImagingExam.objects.filter(pk=alert.exam_id).first()
    if exam is None:
        return "its exam is gone"
    limits = Thresholds.objects.current(exam.clinic_id)
    since = exam.performed_at - timedelta(days=limits.dose_window_days)
    doses = ImagingExam.objects.filter(
        patient_id=alert.patient_id,
        performed_at__gt=since,
        performed_at__lte=exam.performed_at,
        effective_dose_msv__isnull=False,
    ).values_list("effective_dose_msv", flat=True)
    if sum(doses, Decimal(0)) <= limits.cumulative_dose_msv:
        return "the dose up to its exam is below the threshold"
    return None


def _finding_problem(alert: Alert, surgeries: list[Surgery]) -> str | None:
    exam = (
        ImagingExam.objects.filter(pk=alert.exam_id).select_related("patient__clinic").first()
        if alert.exam_id is not None
        else None
    )
    if exam is None:
        return "its exam is gone"
    shown_by = SHOWN_BY.get(alert.code)
    if shown_by is None:  # gadolinium_low_value, modality_mismatch: about the exam itself
        return None if exam.surgery_id == alert.surgery_id else "its exam moved"
    showing = [f for f in exam.findings.all() if shown_by(f)]
    if not showing:
        return f"exam {exam.pk} no longer shows it"
    if not any(judged_surgery(exam, f, surgeries) == alert.surgery_id for f in showing):
        return f"exam {exam.pk}'s finding is judged against another surgery"
    return None


def live_cause_problem(alert: Alert, now: datetime, surgeries: list[Surgery]) -> str | None:
    if alert.code in DEADLINE_CODES:
        return _deadline_problem(alert, now)
    if alert.code == "baseline_missing":
        return _baseline_missing_problem(alert, now)
    if alert.code == "cumulative_dose":
        return _dose_problem(alert)
    return _finding_problem(alert, surgeries)


def assert_alerts_follow_their_causes(patient_id: int, now: datetime) -> None:
    """Every open alert has a live cause, no cause has two open alerts, and every overdue
    checkpoint has its open alert (call it after a sweep at `now`)."""
    surgeries = list(Surgery.objects.filter(patient_id=patient_id))
    active = list(Alert.objects.filter(patient_id=patient_id).exclude(status=AlertStatus.RESOLVED))
    problems = []
    for alert in active:
        if problem := live_cause_problem(alert, now, surgeries):
            problems.append(
                f"open {alert.code} alert {alert.pk} ({alert.subject!r}, surgery "
                f"{alert.surgery_id}) has no live cause: {problem}"
            )
    causes = Counter(
        (a.code, a.subject, a.surgery_id if a.code in PER_SURGERY else None) for a in active
    )
    problems += [f"{n} open alerts for one cause {key}" for key, n in causes.items() if n > 1]

    # A required exam or work-up: an optional checkpoint and a missed PROM raise no alert.
    overdue = Checkpoint.objects.filter(
        UNRESOLVED, patient_id=patient_id, overdue_at__lte=now, required=True
    ).exclude(kind="prom")
    alerted = {a.checkpoint_id for a in active if a.code in DEADLINE_CODES}
    problems += [
        f"overdue checkpoint {c.code} ({c.pk}, surgery {c.surgery_id}) has no open alert"
        for c in overdue
        if c.pk not in alerted
    ]
    assert not problems, "\n".join(problems)
