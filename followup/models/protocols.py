"""Follow-up protocols: which checkpoints a surgery should reach, as editable data.

A protocol is versioned: a version that has been used is never changed; editing
it in the admin saves a new version, which new surgeries get. Patients already
scheduled keep the version they were planned with until staff re-plan them.
"""

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models

from imaging.models import Modality
from patients.models import ProcedureFamily

from .alerts import Severity


class CheckpointKind(models.TextChoices):
    EXAM = "exam"
    MILESTONE = "milestone"
    WORKUP = "workup"


class ProtocolFamily(models.TextChoices):
    """A procedure family's follow-up, or the symptom work-ups of CLINICAL_RULES §5."""

    FUSION = ProcedureFamily.FUSION.value, ProcedureFamily.FUSION.label
    DISC_SURGERY = ProcedureFamily.DISC_SURGERY.value, ProcedureFamily.DISC_SURGERY.label
    NONE = ProcedureFamily.NONE.value, ProcedureFamily.NONE.label
    WORKUPS = "workups", "Symptom work-ups"


class ProtocolQuerySet(models.QuerySet):
    def current(self, family: str, clinic_id: int | None) -> "Protocol | None":
        """What a new surgery gets: the clinic's newest version, else the shared default's."""
        return (
            self.filter(family=family)
            .filter(models.Q(clinic_id=clinic_id) | models.Q(clinic__isnull=True))
            .order_by(models.F("clinic_id").asc(nulls_last=True), "-version")
            .first()
        )


class Protocol(models.Model):
    family = models.CharField(max_length=16, choices=ProtocolFamily)
    clinic = models.ForeignKey(
        "patients.Clinic",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="protocols",
        help_text="Empty: the default every clinic starts from.",
    )
    version = models.PositiveIntegerField(editable=False)
    name = models.CharField(max_length=200)
    notes = models.TextField(blank=True, help_text="What changed in this version, and why.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )

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
        owner = self.clinic.slug if self.clinic_id else "default"
        return f"{self.name} v{self.version} ({owner})"

    def save(self, *args, **kwargs):
        if self.version is None:
            versions = Protocol.objects.filter(family=self.family, clinic=self.clinic)
            latest = versions.aggregate(models.Max("version"))
            self.version = (latest["version__max"] or 0) + 1
        super().save(*args, **kwargs)


class CheckpointDefinition(models.Model):
    """One expected checkpoint, as day offsets from the surgery (day 0 = surgery date)."""

    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="definitions")
    code = models.SlugField(max_length=40)
    label = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=CheckpointKind)
    opens_day = models.PositiveIntegerField(help_text="The window opens at the start of this day.")
    due_day = models.PositiveIntegerField(help_text="The window ends at the end of this day.")
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
        if self.kind == CheckpointKind.WORKUP and not self.due_hours:
            raise ValidationError(
                {"due_hours": "A work-up is due a number of hours after the event."}
            )
