"""Checkpoints: a surgery's expected exams and milestones, with their deadlines on the row.

What is stored is what the sweep needs (`overdue_at`, `overdue_since`); the status a
person sees is derived from it and the clock, so it is right between two sweeps.
"""

import functools
import operator
from collections.abc import Iterable
from datetime import datetime

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from imaging.models import Modality

from .alerts import Severity
from .protocols import CheckpointDefinition, CheckpointKind


class CheckpointStatus(models.TextChoices):
    UPCOMING = "upcoming"
    OPEN = "open"
    SATISFIED = "satisfied"
    OVERDUE = "overdue"
    WAIVED = "waived"
    PASSED = "passed"  # milestones only


# Rows the sweep still has to look at: required, not satisfied, not waived, not yet
# alerted. An optional checkpoint (its definition's `required` unticked) is planned,
# matched and shown like any other, but is never overdue.
PENDING = Q(
    required=True, satisfied_by__isnull=True, waived_at__isnull=True, overdue_since__isnull=True
) & ~Q(kind=CheckpointKind.MILESTONE)


# Exams and work-ups neither satisfied nor waived: open, overdue or upcoming.
UNRESOLVED = ~Q(kind=CheckpointKind.MILESTONE) & Q(
    waived_at__isnull=True, satisfied_by__isnull=True
)


class CheckpointQuerySet(models.QuerySet):
    def with_status(self, status: str | Iterable[str], now: datetime) -> "CheckpointQuerySet":
        """The rows that `Checkpoint.status_at(now)` would call `status` (or any of these
        statuses)."""
        statuses = [status] if isinstance(status, str) else list(status)
        return self.filter(functools.reduce(operator.or_, (_status_q(s, now) for s in statuses)))


def _status_q(status: str, now: datetime) -> Q:
    milestone = Q(kind=CheckpointKind.MILESTONE)
    match status:
        case CheckpointStatus.PASSED:
            return milestone & Q(due_at__lte=now)
        case CheckpointStatus.WAIVED:
            return ~milestone & Q(waived_at__isnull=False)
        case CheckpointStatus.SATISFIED:
            return ~milestone & Q(waived_at__isnull=True, satisfied_by__isnull=False)
        case CheckpointStatus.OVERDUE:
            return UNRESOLVED & Q(overdue_at__lte=now)
        case CheckpointStatus.OPEN:
            return UNRESOLVED & Q(opens_at__lte=now, overdue_at__gt=now)
        case CheckpointStatus.UPCOMING:
            return (milestone & Q(due_at__gt=now)) | (UNRESOLVED & Q(opens_at__gt=now))
    raise ValueError(f"unknown status {status!r}")


def unsatisfy(collector, field, sub_objs, using) -> None:
    """`on_delete` of `satisfied_by`: a checkpoint whose exam is deleted is unsatisfied
    again, whatever the path of the deletion, and if it is past due it is overdue again
    and alerts again (CLINICAL_RULES §4): its `overdue_since` is cleared for the sweep."""
    # The rows are fetched (no `lazy_sub_objs`): a lazy queryset of "satisfied by this
    # exam" would match nothing once the first of the three updates has run.
    collector.add_field_update(field, None, sub_objs)
    collector.add_field_update(field.model._meta.get_field("late"), False, sub_objs)
    collector.add_field_update(field.model._meta.get_field("overdue_since"), None, sub_objs)


# Audit who waived what; the scheduling itself is the system's, not a person's change.
@pghistory.track(
    pghistory.UpdateEvent(),
    fields=["waived_at", "waived_by", "waived_reason"],
    model_name="CheckpointWaiverEvent",
)
class Checkpoint(models.Model):
    clinic = models.ForeignKey("patients.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="checkpoints"
    )
    surgery = models.ForeignKey(
        "patients.Surgery",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="checkpoints",
    )
    # A work-up answers a clinical event (CLINICAL_RULES §5).
    event = models.ForeignKey(
        "patients.ClinicalEvent",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="workups",
    )
    definition = models.ForeignKey(
        CheckpointDefinition, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    code = models.SlugField(max_length=40)
    label = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=CheckpointKind)
    opens_at = models.DateTimeField()
    due_at = models.DateTimeField(help_text="The end of the window (exclusive).")
    overdue_at = models.DateTimeField(help_text="Due time plus grace: then it is overdue.")
    modalities = ArrayField(
        models.CharField(max_length=2, choices=Modality), default=list, blank=True
    )
    required = models.BooleanField(default=True)
    recommendation = models.TextField(blank=True)
    overdue_severity = models.CharField(max_length=8, choices=Severity, default=Severity.WARNING)
    satisfied_by = models.ForeignKey(
        "imaging.ImagingExam",
        null=True,
        blank=True,
        on_delete=unsatisfy,
        related_name="satisfies",
    )
    late = models.BooleanField(default=False, help_text="Satisfied by an exam after its due time.")
    waived_at = models.DateTimeField(null=True, blank=True)
    waived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    waived_reason = models.TextField(blank=True)
    # An exam ordered for it (HL7 ORM^O01/OMI^O23): booked, not yet done. The order's
    # accession number becomes the exam's when its result arrives.
    booked_at = models.DateTimeField(
        null=True, blank=True, help_text="The planned time of the exam ordered for it."
    )
    booked_order = models.CharField(
        max_length=64, blank=True, help_text="The order's accession (placer/filler) number."
    )
    # Set by the sweep when it raised the overdue alert: the sweep's own bookkeeping.
    overdue_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CheckpointQuerySet.as_manager()

    class Meta:
        ordering = ["opens_at", "due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["surgery", "code"],
                condition=~Q(kind=CheckpointKind.WORKUP),
                name="checkpoint_unique_code_per_surgery",
            ),
            models.UniqueConstraint(
                fields=["event"], condition=Q(event__isnull=False), name="checkpoint_one_per_event"
            ),
            models.CheckConstraint(
                condition=Q(due_at__gte=models.F("opens_at"))
                & Q(overdue_at__gte=models.F("due_at")),
                name="checkpoint_times_in_order",
            ),
        ]
        indexes = [
            # The sweep: one range scan over the rows still pending.
            models.Index(fields=["overdue_at"], condition=PENDING, name="checkpoint_sweep_idx"),
            models.Index(fields=["surgery", "opens_at"], name="checkpoint_surgery_idx"),
            models.Index(fields=["clinic", "due_at"], name="checkpoint_clinic_due_idx"),
            # The API's pages (newest first, keyset on the id), and its worklists (open,
            # overdue) over the rows still unresolved, whatever the history kept.
            models.Index(fields=["clinic", "id"], name="checkpoint_clinic_id_idx"),
            models.Index(
                fields=["clinic", "id"], condition=UNRESOLVED, name="checkpoint_clinic_open_idx"
            ),
            models.Index(fields=["patient", "opens_at"], name="checkpoint_patient_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.code})"

    def status_at(self, now: datetime) -> CheckpointStatus:
        if self.kind == CheckpointKind.MILESTONE:
            return CheckpointStatus.PASSED if now >= self.due_at else CheckpointStatus.UPCOMING
        if self.waived_at:
            return CheckpointStatus.WAIVED
        if self.satisfied_by_id:
            return CheckpointStatus.SATISFIED
        if now >= self.overdue_at:
            return CheckpointStatus.OVERDUE
        if now >= self.opens_at:
            return CheckpointStatus.OPEN
        return CheckpointStatus.UPCOMING
