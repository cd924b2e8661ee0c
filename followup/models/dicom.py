"""The DICOM feed's rows: who may send studies for a clinic (`DicomSource`), the studies of
patients a clinic does not follow (counted, `DroppedStudy`), the dose reports received
(`DoseReport`, one per SR instance), the conversion coefficients that turn a dose report
into an effective dose (`DoseCoefficient`, clinical numbers: versioned per clinic), and
the nightly reconciliation with the PACS (`PacsSyncRun`).

Nothing here holds a name or a birth date: a study is kept as the exam it becomes."""

from django.db import models

from .versioned import VersionedModel, VersionedQuerySet, clinic_field


class DicomSource(models.Model):
    """A calling AE title (a modality, a PACS, a router) mapped to one clinic
    (API_CONTRACT, "Hospital feeds / DICOM"). An AE title no source maps is rejected at
    association."""

    clinic = models.ForeignKey("patients.Clinic", on_delete=models.CASCADE, related_name="+")
    ae_title = models.CharField(
        "calling AE title",
        max_length=16,
        unique=True,
        help_text="Exactly as the modality or PACS sends it (at most 16 characters).",
    )
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Written once per association, when it ends (not once per instance).
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    instances_received = models.PositiveBigIntegerField(default=0, editable=False)
    instances_refused = models.PositiveBigIntegerField(default=0, editable=False)
    # What the last refusal was (a field and the validation message: never a value).
    last_refusal = models.TextField(blank=True, editable=False)

    class Meta:
        verbose_name = "DICOM source"
        ordering = ["ae_title"]

    def __str__(self) -> str:
        return f"{self.ae_title} ({self.name})" if self.name else self.ae_title

    @property
    def actor(self) -> str:
        return f"DICOM source {self.ae_title}"


class DroppedStudy(models.Model):
    """A study of a patient the clinic does not follow: counted once per study, whatever the
    number of its instances or associations; nothing of the patient is kept."""

    source = models.ForeignKey(DicomSource, on_delete=models.CASCADE, related_name="dropped")
    study_instance_uid = models.CharField("Study Instance UID", max_length=64)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    instances = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "dropped studies"
        ordering = ["-last_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "study_instance_uid"], name="dropped_study_once_per_source"
            )
        ]

    def __str__(self) -> str:
        return f"{self.study_instance_uid} ({self.instances} instances)"


class DoseKind(models.TextChoices):
    """What a dose report accumulates, and so which coefficient turns it into mSv."""

    CT_DLP = "ct_dlp", "CT: dose-length product (mSv per mGy·cm)"
    PROJECTION_DAP = "projection_dap", "Projection/fluoroscopy: dose-area product (mSv per Gy·cm²)"


class BodyRegion(models.TextChoices):
    """The regions the published coefficients are given for. A spine study takes the region
    that contains it (followup/feeds/dicom/dose.py: cervical spine is the neck, thoracic the
    chest, lumbar and sacral the abdomen and pelvis, a whole spine the trunk)."""

    HEAD = "head", "Head"
    HEAD_NECK = "head_neck", "Head and neck"
    NECK = "neck", "Neck"
    CHEST = "chest", "Chest"
    ABDOMEN_PELVIS = "abdomen_pelvis", "Abdomen and pelvis"
    TRUNK = "trunk", "Trunk (chest, abdomen and pelvis)"


class DoseCoefficientQuerySet(VersionedQuerySet):
    def current(self, clinic_id: int, kind: str, region: str) -> "DoseCoefficient | None":
        return self.in_force(clinic_id, kind=kind, region=region)


class DoseCoefficient(VersionedModel):
    """Effective dose per unit of accumulated dose for one kind and body region: clinical
    numbers, versioned like thresholds (a save in the admin is a new version of that line,
    per clinic or shared). A dose report keeps the version and value it was computed with,
    so an edit never rewrites a dose already recorded."""

    line = ("kind", "region")

    clinic = clinic_field("dose_coefficients")
    kind = models.CharField(max_length=16, choices=DoseKind)
    region = models.CharField(max_length=16, choices=BodyRegion)
    value = models.DecimalField(
        max_digits=8,
        decimal_places=5,
        help_text="mSv per mGy·cm (CT) or per Gy·cm² (projection and fluoroscopy).",
    )
    source = models.CharField(
        max_length=300, help_text="The publication the value comes from (shown with every dose)."
    )

    objects = DoseCoefficientQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "region", "clinic", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "kind", "region", "version"],
                nulls_distinct=False,
                name="dose_coefficient_unique_version",
            ),
            models.CheckConstraint(
                condition=models.Q(value__gt=0), name="dose_coefficient_positive"
            ),
        ]

    def __str__(self) -> str:
        region = self.get_region_display()
        return f"{self.get_kind_display()}, {region}: v{self.version} ({self.owner})"


class DoseReport(models.Model):
    """One Radiation Dose SR instance, read once: its SOP Instance UID is unique per clinic,
    so a report sent twice is counted once. The exam's effective dose is computed from its
    reports (`followup/feeds/dicom/storing.py`): per kind, the largest, never a sum of an
    accumulated report and the events it accumulates."""

    clinic = models.ForeignKey("patients.Clinic", on_delete=models.CASCADE, related_name="+")
    exam = models.ForeignKey(
        "imaging.ImagingExam", on_delete=models.CASCADE, related_name="dose_reports"
    )
    sop_instance_uid = models.CharField("SOP Instance UID", max_length=64)
    kind = models.CharField(max_length=16, choices=DoseKind)
    # As the report gives it: DLP in mGy·cm, or DAP converted from the SR's Gy·m² to Gy·cm².
    accumulated = models.DecimalField(max_digits=14, decimal_places=4)
    from_events = models.BooleanField(
        default=False, help_text="No accumulated total in the report: the sum of its events."
    )
    region = models.CharField(max_length=16, choices=BodyRegion)
    coefficient = models.ForeignKey(
        DoseCoefficient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    coefficient_value = models.DecimalField(max_digits=8, decimal_places=5, null=True, blank=True)
    effective_dose_msv = models.DecimalField(
        "effective dose (mSv)", max_digits=7, decimal_places=3, null=True, blank=True,
        help_text="Empty when no coefficient was in force for its kind and region.",
    )  # fmt: skip
    source = models.ForeignKey(
        DicomSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "sop_instance_uid"], name="dose_report_once_per_clinic"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.accumulated} ({self.effective_dose_msv} mSv)"


class PacsSyncStatus(models.TextChoices):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class PacsSyncRun(models.Model):
    """One reconciliation with the PACS over DICOMweb (`manage.py pacs_sync`, nightly): what
    it asked for and what it found. The next run asks from the last finished run's start."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    since = models.DateField(help_text="Studies dated from this day were asked for.")
    status = models.CharField(max_length=8, choices=PacsSyncStatus, default=PacsSyncStatus.RUNNING)
    patients = models.PositiveIntegerField(default=0)
    studies_found = models.PositiveIntegerField(default=0)
    studies_known = models.PositiveIntegerField(default=0)
    studies_recorded = models.PositiveIntegerField(default=0)
    studies_refused = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = "PACS sync run"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"PACS sync {self.started_at:%Y-%m-%d %H:%M} ({self.status})"
