"""Imaging exams after surgery and their structured findings."""

import pghistory
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from patients.levels import validate_level
from patients.models import Clinic, Patient, PatientRecord, Surgery

from .vocabulary import VOCABULARY, FindingCode, ValueType


class Modality(models.TextChoices):
    XR = "XR", "Radiograph"
    CT = "CT", "CT"
    MR = "MR", "MRI"
    NM = "NM", "Bone scan"
    PT = "PT", "PET-CT"
    RF = "RF", "Fluoroscopy"
    US = "US", "Ultrasound"


class Contrast(models.TextChoices):
    NONE = "none"
    GADOLINIUM = "gadolinium"
    IODINATED = "iodinated"


class View(models.TextChoices):
    AP = "AP"
    LATERAL = "lateral"
    FLEXION = "flexion"
    EXTENSION = "extension"
    FULL_SPINE = "full_spine"
    OBLIQUE = "oblique"


class Side(models.TextChoices):
    LEFT = "left"
    RIGHT = "right"
    BILATERAL = "bilateral"
    MIDLINE = "midline"


@pghistory.track()
class ImagingExam(PatientRecord, models.Model):
    TIME_FIELD = "performed_at"

    # Copied from the patient: the accession number is unique per clinic.
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+", editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="exams")
    surgery = models.ForeignKey(
        Surgery, on_delete=models.SET_NULL, null=True, blank=True, related_name="exams"
    )
    modality = models.CharField(max_length=2, choices=Modality)
    contrast = models.CharField(max_length=12, choices=Contrast, default=Contrast.NONE)
    performed_at = models.DateTimeField()
    views = ArrayField(models.CharField(max_length=12, choices=View), default=list, blank=True)
    # Blank only for a study known by its Study Instance UID alone (a PACS-side FHIR
    # import); the REST API still requires one. One of the two always identifies it.
    accession_number = models.CharField(max_length=64, blank=True)
    study_instance_uid = models.CharField("Study Instance UID", max_length=64, blank=True)
    effective_dose_msv = models.DecimalField(
        "effective dose (mSv)", max_digits=7, decimal_places=3, null=True, blank=True
    )
    report = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "imaging exam"
        ordering = ["-performed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "accession_number"],
                condition=~Q(accession_number=""),
                name="exam_unique_accession_per_clinic",
            ),
            models.CheckConstraint(
                condition=~Q(accession_number="", study_instance_uid=""),
                name="exam_identified",
            ),
            models.UniqueConstraint(
                fields=["clinic", "study_instance_uid"],
                condition=~Q(study_instance_uid=""),
                name="exam_unique_study_uid_per_clinic",
            ),
            models.CheckConstraint(
                condition=Q(effective_dose_msv__gte=0), name="exam_dose_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "performed_at"], name="exam_patient_time_idx"),
            models.Index(fields=["surgery", "performed_at"], name="exam_surgery_time_idx"),
            models.Index(fields=["clinic", "id"], name="exam_clinic_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.modality} {self.accession_number} on {self.performed_at:%Y-%m-%d}"


def _plausible_numbers() -> Q:
    """Numbers inside the vocabulary's range, enforced by the database as well."""
    condition = Q()
    for code, definition in VOCABULARY.items():
        if definition.type is ValueType.NUMBER:
            condition &= ~Q(code=code) | Q(
                value__gte=float(definition.minimum), value__lte=float(definition.maximum)
            )
    return condition


@pghistory.track()
class Finding(models.Model):
    exam = models.ForeignKey(ImagingExam, on_delete=models.CASCADE, related_name="findings")
    code = models.CharField(max_length=40, choices=FindingCode)
    # Typed by the vocabulary: a number, a boolean or one of the code's choices.
    value = models.JSONField()
    level = models.CharField(max_length=7, blank=True, validators=[validate_level])
    side = models.CharField(max_length=9, choices=Side, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["exam", "code", "level", "side"], name="finding_unique_per_site"
            ),
            models.CheckConstraint(condition=_plausible_numbers(), name="finding_number_in_range"),
        ]
        indexes = [models.Index(fields=["code"], name="finding_code_idx")]

    def __str__(self) -> str:
        where = " ".join(part for part in (self.level, self.side) if part)
        return f"{self.code}={self.value} {where}".strip()

    def clean(self) -> None:
        if self.code in VOCABULARY:
            try:
                self.value = VOCABULARY[self.code].clean(self.value)
            except ValueError as error:
                raise ValidationError({"value": f"{self.code} {error}."}) from None
