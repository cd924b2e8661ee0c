"""What happens to a patient after surgery, besides their imaging: symptoms that call for
imaging now (clinical events) and the scores they report (assessments); and the base of
every record about a patient (`PatientRecord`)."""

import pghistory
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from .records import Patient, Surgery
from .tenancy import Clinic


class EventCode(models.TextChoices):
    """Symptoms that call for imaging now (CLINICAL_RULES §5)."""

    CAUDA_EQUINA = "cauda_equina", "Cauda equina syndrome"
    MEDULLARY_SYNDROME = "medullary_syndrome", "Medullary syndrome"
    BLOOD_LOSS = "blood_loss", "Blood loss"
    NEW_RADICULAR_PAIN = "new_radicular_pain", "New radicular pain"
    INFECTION_SIGNS = "infection_signs", "Signs of infection"
    POSITIONAL_HEADACHE = "positional_headache", "Positional headache"
    PAIN_RECURRENCE = "pain_recurrence", "Pain recurrence after a pain-free interval"
    RECURRENT_RADICULAR_PAIN = "recurrent_radicular_pain", "Recurrent radicular pain"
    NO_IMPROVEMENT = "no_improvement", "No improvement after decompression"


class EventSource(models.TextChoices):
    RECORDED = "recorded", "Recorded by staff or an integration"
    DETECTED = "detected", "Detected from assessments"


class PatientRecord:
    """What an exam, a clinical event and an assessment share: each belongs to a patient
    (its clinic copied from them) and to one of their surgeries, at a time not in the
    future. `TIME_FIELD` names that time."""

    TIME_FIELD = ""

    def save(self, *args, **kwargs):
        self.clinic_id = self.patient.clinic_id
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.surgery_id and self.patient_id and self.surgery.patient_id != self.patient_id:
            raise ValidationError({"surgery": "This surgery is not this patient's."})
        when = getattr(self, self.TIME_FIELD)
        if when and when > timezone.now():
            raise ValidationError({self.TIME_FIELD: "Must not be in the future."})


@pghistory.track()
class ClinicalEvent(PatientRecord, models.Model):
    TIME_FIELD = "occurred_at"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+", editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="clinical_events")
    surgery = models.ForeignKey(
        Surgery, null=True, blank=True, on_delete=models.CASCADE, related_name="clinical_events"
    )
    code = models.CharField(max_length=32, choices=EventCode)
    occurred_at = models.DateTimeField()
    notes = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=EventSource, default=EventSource.RECORDED)
    # For a detected pain recurrence: the assessments that showed it.
    relief_assessment = models.ForeignKey(
        "Assessment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recurrence_assessment = models.ForeignKey(
        "Assessment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # One detected recurrence per assessment that showed it.
            models.UniqueConstraint(
                fields=["recurrence_assessment"],
                condition=models.Q(recurrence_assessment__isnull=False),
                name="event_one_per_recurrence",
            )
        ]
        indexes = [
            models.Index(fields=["patient", "occurred_at"], name="event_patient_time_idx"),
            models.Index(fields=["clinic", "id"], name="event_clinic_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_code_display()} on {self.occurred_at:%Y-%m-%d %H:%M}"


@pghistory.track()
class Assessment(PatientRecord, models.Model):
    """Patient-reported outcomes: back and leg pain (NRS 0-10), Oswestry (ODI 0-100)."""

    TIME_FIELD = "assessed_at"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+", editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="assessments")
    surgery = models.ForeignKey(
        Surgery, null=True, blank=True, on_delete=models.SET_NULL, related_name="assessments"
    )
    assessed_at = models.DateTimeField()
    nrs_back = models.PositiveSmallIntegerField("NRS back", null=True, blank=True)
    nrs_leg = models.PositiveSmallIntegerField("NRS leg", null=True, blank=True)
    odi = models.PositiveSmallIntegerField("ODI", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # A PATCH changes an assessment: FHIR's _lastUpdated (incremental sync) reads this.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-assessed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(nrs_back__lte=10), name="assessment_nrs_back"
            ),
            models.CheckConstraint(condition=models.Q(nrs_leg__lte=10), name="assessment_nrs_leg"),
            models.CheckConstraint(condition=models.Q(odi__lte=100), name="assessment_odi"),
            models.CheckConstraint(
                condition=models.Q(nrs_back__isnull=False)
                | models.Q(nrs_leg__isnull=False)
                | models.Q(odi__isnull=False),
                name="assessment_not_empty",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "assessed_at"], name="assessment_patient_time_idx"),
            models.Index(fields=["surgery", "assessed_at"], name="assessment_surgery_idx"),
            models.Index(fields=["clinic", "id"], name="assessment_clinic_idx"),
        ]

    def __str__(self) -> str:
        return f"NRS back {self.nrs_back}, leg {self.nrs_leg}, ODI {self.odi}"
