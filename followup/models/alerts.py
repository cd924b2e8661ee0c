"""Alerts: what needs a person, one open alert per cause."""

from datetime import datetime

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q

from .. import rules

# The rules' scale as the model's choices (labels "Info", "Warning"...); its members are
# equal to the rules' and to the stored strings.
Severity = models.TextChoices("Severity", [(level.name, level.value) for level in rules.Severity])


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.HIGH: 2, Severity.URGENT: 3}
# For ORDER BY: most severe first with `.desc()`.
SEVERITY_ORDER = models.Case(
    *(models.When(severity=s, then=models.Value(rank)) for s, rank in SEVERITY_RANK.items()),
    output_field=models.IntegerField(),
)


class AlertStatus(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class AlertCode(models.TextChoices):
    """CLINICAL_RULES §4."""

    WORKUP_OVERDUE = "workup_overdue"
    CHECKPOINT_OVERDUE = "checkpoint_overdue"
    BASELINE_MISSING = "baseline_missing"
    SCREW_LOOSENING = "screw_loosening"
    PERISCREW_INFECTION = "periscrew_infection"
    DELAYED_FUSION = "delayed_fusion"
    PSEUDARTHROSIS_SUSPECTED = "pseudarthrosis_suspected"
    MICROMOTION = "micromotion"
    LOCKED_PSEUDARTHROSIS = "locked_pseudarthrosis"
    SPACER_TOO_POSTERIOR = "spacer_too_posterior"
    SPACER_MIGRATION = "spacer_migration"
    HARDWARE_FRACTURE = "hardware_fracture"
    SCREW_MISPLACED = "screw_misplaced"
    ABSCESS = "abscess"
    PSEUDOMENINGOCELE = "pseudomeningocele"
    RADICULITIS_POSSIBLE = "radiculitis_possible"
    HERNIATION_RECURRENCE = "herniation_recurrence"
    CONTRAST_NEEDED = "contrast_needed"
    GADOLINIUM_LOW_VALUE = "gadolinium_low_value"
    BONE_SCAN_EARLY = "bone_scan_early"
    NEW_FRACTURE = "new_fracture"
    ADJACENT_SEGMENT = "adjacent_segment"
    SAGITTAL_MALALIGNMENT = "sagittal_malalignment"
    CUMULATIVE_DOSE = "cumulative_dose"
    MODALITY_MISMATCH = "modality_mismatch"


# Raised by the sweep from deadlines; every other code comes from the findings rules.
DEADLINE_CODES = frozenset({AlertCode.WORKUP_OVERDUE, AlertCode.CHECKPOINT_OVERDUE})
FINDING_CODES = frozenset(AlertCode) - DEADLINE_CODES


class AlertQuerySet(models.QuerySet):
    def with_status(self, status: str, now: datetime) -> "AlertQuerySet":
        """Alerts whose status is `status` as seen at `now` (`Alert.status_at`): a snooze
        that has run out is open."""
        woken = Q(status=AlertStatus.SNOOZED, snoozed_until__lte=now)
        if status == AlertStatus.OPEN:
            return self.filter(Q(status=AlertStatus.OPEN) | woken)
        if status == AlertStatus.SNOOZED:
            return self.filter(Q(status=AlertStatus.SNOOZED) & ~woken)
        return self.filter(status=status)


# Every transition (acknowledged, snoozed, resolved) is kept, with who made it.
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    fields=["status", "severity", "snoozed_until", "resolution_note", "auto_resolved"],
    model_name="AlertEvent",
)
class Alert(models.Model):
    clinic = models.ForeignKey("patients.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="alerts")
    surgery = models.ForeignKey(
        "patients.Surgery", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    exam = models.ForeignKey(
        "imaging.ImagingExam", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    checkpoint = models.ForeignKey(
        "followup.Checkpoint",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
    )
    code = models.CharField(max_length=40, choices=AlertCode)
    # What the alert is about, so that one cause never has two open alerts:
    # "checkpoint:<id>", or a finding's "<level>:<side>".
    subject = models.CharField(max_length=80, blank=True)
    severity = models.CharField(max_length=8, choices=Severity)
    status = models.CharField(max_length=12, choices=AlertStatus, default=AlertStatus.OPEN)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    auto_resolved = models.BooleanField(
        default=False, help_text="Resolved by the service because its cause is gone."
    )

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "surgery", "code", "subject"],
                condition=~Q(status="resolved"),
                nulls_distinct=False,
                name="alert_one_open_per_cause",
            )
        ]
        indexes = [
            models.Index(fields=["clinic", "status", "severity"], name="alert_clinic_status_idx"),
            # The API's pages (newest first, keyset on the id): a range scan in the clinic,
            # whatever the size of the other clinics' history.
            models.Index(fields=["clinic", "id"], name="alert_clinic_id_idx"),
            models.Index(fields=["patient", "created_at"], name="alert_patient_idx"),
            models.Index(fields=["surgery", "code"], name="alert_surgery_code_idx"),
            models.Index(
                fields=["snoozed_until"], condition=Q(status="snoozed"), name="alert_snoozed_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.severity}, {self.status})"

    def status_at(self, now) -> str:
        """A snooze that has run out is open again, even before the sweep says so."""
        if self.status == AlertStatus.SNOOZED and self.snoozed_until and self.snoozed_until <= now:
            return AlertStatus.OPEN
        return self.status


AlertEvent = Alert.pgh_event_models["insert"]  # the history of every alert, with who
