"""Follow-up protocols: which checkpoints a surgery should reach, as editable data.

A protocol is versioned per clinic, or shared (versioned.py): a version that has been
used is never changed; editing it in the admin saves a new version, which new surgeries
get. Patients already scheduled keep the version they were planned with until staff
re-plan them.
"""

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models

from imaging.models import Modality
from patients.models import ProcedureFamily

from .alerts import Severity
from .versioned import VersionedModel, VersionedQuerySet, clinic_field


class CheckpointKind(models.TextChoices):
    EXAM = "exam"
    MILESTONE = "milestone"
    WORKUP = "workup"
    # Patient-reported outcomes at a time point (CLINICAL_RULES §6): answered by an
    # assessment in the window, not by an exam; a missed one is a gap in the capture
    # rate, never an overdue alert.
    PROM = "prom", "PROM (patient-reported outcomes)"


class ProtocolFamily(models.TextChoices):
    """A procedure family's follow-up, or the symptom work-ups of CLINICAL_RULES §5."""

    FUSION = ProcedureFamily.FUSION.value, ProcedureFamily.FUSION.label
    DISC_SURGERY = ProcedureFamily.DISC_SURGERY.value, ProcedureFamily.DISC_SURGERY.label
    NONE = ProcedureFamily.NONE.value, ProcedureFamily.NONE.label
    WORKUPS = "workups", "Symptom work-ups"


class ProtocolQuerySet(VersionedQuerySet):
    def current(self, family: str, clinic_id: int | None) -> "Protocol | None":
        """What a new surgery gets: the clinic's newest version, else the shared default's."""
        return self.in_force(clinic_id, family=family)


class Protocol(VersionedModel):
    line = ("family",)

    family = models.CharField(max_length=16, choices=ProtocolFamily)
    clinic = clinic_field("protocols")
    name = models.CharField(max_length=200)

    objects = ProtocolQuerySet.as_manager()

    class Meta:
        ordering = ["family", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "family", "version"],
                nulls_distinct=False,
                name="protocol_unique_version",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.owner})"


class CheckpointDefinition(models.Model):
    """One expected checkpoint, as day offsets from the surgery (day 0 = surgery date)."""

    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="definitions")
    code = models.SlugField(max_length=40)
    label = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=CheckpointKind)
    # Negative only for a PROM: the baseline is answered before the surgery.
    opens_day = models.IntegerField(help_text="The window opens at the start of this day.")
    due_day = models.IntegerField(help_text="The window ends at the end of this day.")
    target_day = models.PositiveIntegerField(null=True, blank=True)
    due_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Work-ups: due this many hours after the symptom (instead of a due day).",
    )
    recommendation = models.TextField(
        blank=True, help_text="Work-ups: the imaging the source recommends, shown to staff."
    )
    grace_days = models.PositiveIntegerField(
        default=0, help_text="Days after the due day before the checkpoint is called overdue."
    )
    modalities = ArrayField(
        models.CharField(max_length=2, choices=Modality), default=list, blank=True
    )
    instruments = ArrayField(
        models.SlugField(max_length=40),
        default=list,
        blank=True,
        help_text="PROMs: the questionnaires asked at this time point (instrument codes), "
        "in order.",
    )
    required = models.BooleanField(default=True)
    overdue_severity = models.CharField(max_length=8, choices=Severity, default=Severity.WARNING)
    source = models.TextField(blank=True, help_text="Where the numbers come from.")

    class Meta:
        ordering = ["protocol", "opens_day", "due_day", "code"]
        constraints = [
            models.UniqueConstraint(fields=["protocol", "code"], name="definition_unique_code"),
            models.CheckConstraint(
                condition=models.Q(due_day__gte=models.F("opens_day")),
                name="definition_window_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} (day {self.opens_day}-{self.due_day})"

    def clean(self) -> None:
        if (
            self.due_day is not None
            and self.opens_day is not None
            and self.due_day < self.opens_day
        ):
            raise ValidationError({"due_day": "The window must end after it opens."})
        if self.kind in (CheckpointKind.EXAM, CheckpointKind.WORKUP) and not self.modalities:
            raise ValidationError({"modalities": "An exam or work-up needs at least one modality."})
        if self.kind != CheckpointKind.PROM and (self.opens_day or 0) < 0:
            raise ValidationError({"opens_day": "Only a PROM time point opens before surgery."})
        if self.kind == CheckpointKind.PROM and not self.instruments:
            raise ValidationError(
                {"instruments": "A PROM time point asks at least one instrument."}
            )
        if self.kind == CheckpointKind.WORKUP and not self.due_hours:
            raise ValidationError(
                {"due_hours": "A work-up is due a number of hours after the event."}
            )
