"""A clinic's patient records: patients and their identifiers, surgeries, clinical events
and patient-reported assessments, each tracked by pghistory."""

import pghistory
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from ..levels import validate_level
from .tenancy import Clinic


class Sex(models.TextChoices):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class LumbarVertebrae(models.IntegerChoices):
    FIVE = 5, "5 (usual)"
    SIX = 6, "6 (lumbarisation)"


class Language(models.TextChoices):
    """The languages the patient's own questionnaire page and e-mails are written in."""

    ENGLISH = "en", "English"
    FRENCH = "fr", "Français"


class FollowupStatus(models.TextChoices):
    """Whether the patient's follow-up goes on. Any status but `active` ends their pending
    follow-up: no overdue alert, digest line or invitation (API_CONTRACT, patients)."""

    ACTIVE = "active"
    COMPLETED = "completed"
    LOST = "lost", "Lost to follow-up"
    DECLINED = "declined"
    DECEASED = "deceased"
    TRANSFERRED = "transferred"


@pghistory.track()
class Patient(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=64)
    family_name = models.CharField(max_length=200)
    given_name = models.CharField(max_length=200, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=8, choices=Sex, default=Sex.UNKNOWN)
    transitional_variant = models.TextField(
        blank=True,
        help_text="Lumbosacral transitional variant, empty when none. Shown on top of "
        "everything about the patient: level errors come from numbering it differently.",
    )
    vertebral_numbering = models.TextField(
        blank=True, help_text="How the vertebrae were numbered (e.g. counted from C2)."
    )
    lumbar_vertebrae = models.PositiveSmallIntegerField(
        choices=LumbarVertebrae,
        default=LumbarVertebrae.FIVE,
        help_text="6 for a lumbarisation: only then can L6 and its joints be recorded "
        "(CLINICAL_RULES §3).",
    )
    # The patient's own questionnaires (PROMs): where to invite them, in which language,
    # and whether they agreed to be asked by e-mail.
    email = models.EmailField(blank=True, help_text="For the patient's own questionnaires.")
    preferred_language = models.CharField(max_length=8, choices=Language, default=Language.ENGLISH)
    prom_consent = models.BooleanField(
        "agrees to questionnaires by e-mail",
        default=False,
        help_text="No invitation is sent without it.",
    )
    followup_status = models.CharField(
        max_length=12, choices=FollowupStatus, default=FollowupStatus.ACTIVE
    )
    followup_status_reason = models.TextField(blank=True)
    # Who set the status and when: "user alice", "API client EHR", "HL7 source RAD1".
    followup_status_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    followup_status_set_by = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "mrn"], name="patient_unique_mrn_per_clinic"),
            models.CheckConstraint(
                condition=models.Q(lumbar_vertebrae__in=[5, 6]),
                name="patient_lumbar_vertebrae_5_or_6",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "family_name"], name="patient_clinic_name_idx")]

    def __str__(self) -> str:
        return f"{self.mrn} {self.family_name}, {self.given_name}".strip(", ")

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)  # post_save receivers still see what changed
        self._loaded_followup_status = self.followup_status

    @classmethod
    def from_db(cls, db, field_names, values, *args, **kwargs):
        instance = super().from_db(db, field_names, values, *args, **kwargs)
        # What the row said when read: a save knows whether the status changed.
        instance._loaded_followup_status = instance.__dict__.get("followup_status")
        return instance

    @property
    def followup_status_changed(self) -> bool:
        return getattr(self, "_loaded_followup_status", None) != self.followup_status

    @property
    def followup_active(self) -> bool:
        return self.followup_status == FollowupStatus.ACTIVE

    def note_followup_status(self, actor: str, now) -> None:
        """Record who set the status and when, if it changed since the row was read
        (a new patient that is not active counts as a change)."""
        if self.followup_status_changed and not (
            self.pk is None and self.followup_status == FollowupStatus.ACTIVE
        ):
            self.followup_status_set_at = now
            self.followup_status_set_by = actor[:200]

    @property
    def initials(self) -> str:
        return "".join(part[:1].upper() for part in (self.given_name, self.family_name) if part)

    @property
    def reference(self) -> str:
        """How messages name the patient: MRN and initials, never the name."""
        return f"{self.mrn} ({self.initials})" if self.initials else self.mrn

    def check_lumbar_vertebrae(self, count: int) -> None:
        """ValidationError naming `lumbar_vertebrae` if changing the stored count to
        `count` would leave levels naming L6 on a patient without one (levels are never
        renumbered silently). Call it before assigning the new count."""
        if self.pk is None or count == 6 or self.lumbar_vertebrae != 6:
            return
        if named := self.levels_naming_l6():
            raise ValidationError(
                {
                    "lumbar_vertebrae": f"Levels naming L6 are recorded for this patient "
                    f"({', '.join(named)}): correct them before recording {count} lumbar "
                    "vertebrae; levels are never renumbered silently."
                }
            )

    def levels_naming_l6(self) -> list[str]:
        """The recorded levels (surgeries, exam findings) that name L6, sorted: while
        any is left, the patient cannot go back to five lumbar vertebrae."""
        named = {
            level
            for levels in self.surgeries.values_list("levels", flat=True)
            for level in levels
            if "L6" in level.split("-")
        }
        # Through the reverse relations: patients does not import imaging.
        named |= set(
            Patient.objects.filter(pk=self.pk, exams__findings__level__contains="L6").values_list(
                "exams__findings__level", flat=True
            )
        )
        return sorted(named)


@pghistory.track()
class PatientIdentifier(models.Model):
    """An identifier given to the patient by another system (EHR, national id...)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="external_ids")
    # Copied from the patient so that one system's value is unique within a clinic.
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+", editable=False)
    system = models.CharField(max_length=255)
    value = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "system", "value"], name="identifier_unique_per_clinic"
            )
        ]

    def __str__(self) -> str:
        return f"{self.system}|{self.value}"

    def save(self, *args, **kwargs):
        self.clinic_id = self.patient.clinic_id
        super().save(*args, **kwargs)


class Procedure(models.TextChoices):
    DISCECTOMY = "discectomy", "Discectomy (herniectomy)"
    DECOMPRESSION = "decompression", "Decompression (laminectomy/laminotomy)"
    POSTEROLATERAL_FUSION = "posterolateral_fusion", "Posterolateral instrumented fusion"
    TLIF = "tlif", "TLIF"
    PLIF = "plif", "PLIF"
    ALIF = "alif", "ALIF"
    XLIF = "xlif", "XLIF"
    VERTEBROPLASTY = "vertebroplasty", "Vertebroplasty"
    KYPHOPLASTY = "kyphoplasty", "Kyphoplasty"
    INFECTION_DEBRIDEMENT = "infection_debridement", "Debridement for infection"


class ProcedureFamily(models.TextChoices):
    """Which follow-up protocol a procedure calls for (CLINICAL_RULES §1)."""

    FUSION = "fusion"
    DISC_SURGERY = "disc_surgery", "Disc surgery"
    NONE = "none"


PROCEDURE_FAMILY: dict[str, ProcedureFamily] = {
    Procedure.DISCECTOMY: ProcedureFamily.DISC_SURGERY,
    Procedure.DECOMPRESSION: ProcedureFamily.DISC_SURGERY,
    Procedure.POSTEROLATERAL_FUSION: ProcedureFamily.FUSION,
    Procedure.TLIF: ProcedureFamily.FUSION,
    Procedure.PLIF: ProcedureFamily.FUSION,
    Procedure.ALIF: ProcedureFamily.FUSION,
    Procedure.XLIF: ProcedureFamily.FUSION,
    Procedure.VERTEBROPLASTY: ProcedureFamily.NONE,
    Procedure.KYPHOPLASTY: ProcedureFamily.NONE,
    Procedure.INFECTION_DEBRIDEMENT: ProcedureFamily.NONE,
}


class Hardware(models.TextChoices):
    PEDICLE_SCREWS = "pedicle_screws"
    RODS = "rods"
    INTERBODY_CAGE = "interbody_cage", "Interbody cage/spacer"
    PLATE = "plate"


class Approach(models.TextChoices):
    POSTERIOR = "posterior"
    ANTERIOR = "anterior"
    LATERAL = "lateral"
    TRANSFORAMINAL = "transforaminal"
    PERCUTANEOUS = "percutaneous"


class SurgeryQuerySet(models.QuerySet):
    def latest_before(self, patient: "Patient", when) -> "Surgery | None":
        """What an exam, event or assessment belongs to when nobody says."""
        return (
            self.filter(patient=patient, performed_at__lte=when)
            .order_by("-performed_at", "-id")
            .first()
        )


# What the follow-up planned for it (protocol, thresholds, stale mark) is the follow-up's
# own row, one-to-one with it (followup.SurgeryPlan): this app never imports followup.
@pghistory.track()
class Surgery(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="surgeries")
    # Copied from the patient: every scoped query filters on it without a join.
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+", editable=False)
    performed_at = models.DateTimeField()
    procedure = models.CharField(max_length=32, choices=Procedure)
    levels = ArrayField(
        models.CharField(max_length=7, validators=[validate_level]), default=list, blank=True
    )
    hardware = ArrayField(
        models.CharField(max_length=16, choices=Hardware), default=list, blank=True
    )
    approach = models.CharField(max_length=16, choices=Approach, blank=True)
    surgeon = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SurgeryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "surgeries"
        ordering = ["-performed_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "performed_at"], name="surgery_patient_time_idx"),
            models.Index(fields=["clinic", "id"], name="surgery_clinic_idx"),
        ]

    def __str__(self) -> str:
        levels = ", ".join(self.levels)
        return f"{self.get_procedure_display()} {levels} on {self.performed_at:%Y-%m-%d}"

    def save(self, *args, **kwargs):
        self.clinic_id = self.patient.clinic_id
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.performed_at and self.performed_at > timezone.now():
            raise ValidationError({"performed_at": "Must not be in the future."})

    @property
    def family(self) -> ProcedureFamily:
        return PROCEDURE_FAMILY[self.procedure]
