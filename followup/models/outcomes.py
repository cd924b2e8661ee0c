"""The numbers behind the outcomes report (docs/outcomes.md), as clinic data: the minimal
clinically important differences with their source, the PROM time points, the smallest
group a report shows figures for. The worklist reads two of them too: a score worse by
at least the MCID is flagged, and unanswered invitations in a row propose a patient as
lost.

Versioned like thresholds (versioned.py): saving in the admin creates a new version; the
newest of the clinic (else of the shared default) is the one a report uses, and the report
names the version it used.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from .versioned import VersionedModel, VersionedQuerySet, clinic_field

MCID_SOURCE = (
    "NRS 2 points (0-10): the usual minimal clinically important difference for back and "
    "leg pain (Ostelo et al., Spine 2008;33:90-94; CLINICAL_RULES §6). ODI 15 points "
    "(0-100): the threshold commonly used for lumbar fusion outcomes. Defaults, not from "
    "the seeds: each clinic may change them."
)

# code, label, window (days since surgery, inclusive), target day: the follow-up closest to
# the target inside the window counts (registries ask at about 3 and 12 months).
DEFAULT_TIME_POINTS = [
    {"code": "3m", "label": "3 months", "opens_day": 60, "target_day": 90, "due_day": 135},
    {"code": "12m", "label": "12 months", "opens_day": 300, "target_day": 365, "due_day": 455},
]


def default_time_points() -> list[dict]:
    return [dict(point) for point in DEFAULT_TIME_POINTS]


class OutcomeStandardsQuerySet(VersionedQuerySet):
    def current(self, clinic_id: int | None) -> "OutcomeStandards":
        return self.in_force(clinic_id) or OutcomeStandards()

    def current_of(self, clinic_ids) -> dict[int, "OutcomeStandards"]:
        """`current` for each of these clinics, in one query."""
        found = self.in_force_of(clinic_ids)
        return {clinic_id: found[clinic_id] or OutcomeStandards() for clinic_id in clinic_ids}


class OutcomeStandards(VersionedModel):
    clinic = clinic_field("outcome_standards")

    min_group_size = models.PositiveSmallIntegerField(
        default=5,
        help_text="A group smaller than this is shown with its size only, its figures "
        "suppressed, so that no patient can be recognised.",
    )
    nrs_mcid = models.DecimalField(
        "NRS MCID", max_digits=4, decimal_places=1, default=2,
        help_text="An improvement of at least this many NRS points (back or leg) is a response.",
    )  # fmt: skip
    odi_mcid = models.DecimalField(
        "ODI MCID", max_digits=4, decimal_places=1, default=15,
        help_text="An improvement of at least this many ODI points is a response.",
    )  # fmt: skip
    mcid_source = models.TextField(default=MCID_SOURCE, help_text="Where the MCIDs come from.")
    lost_after_unanswered = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1)],
        help_text="A patient whose last this many questionnaire invitations all closed "
        "unanswered is proposed as lost to follow-up on the worklist (staff decide).",
    )
    baseline_days = models.PositiveSmallIntegerField(
        default=90,
        help_text="The PROM baseline is the latest assessment from this many days before the "
        "surgery to its day.",
    )
    time_points = models.JSONField(
        default=default_time_points,
        help_text='PROM time points: [{"code", "label", "opens_day", "target_day", '
        '"due_day"}]; the assessment closest to the target day in the window counts.',
    )
    fusion_checkpoint = models.SlugField(
        max_length=40, default="fusion_assessment",
        help_text="The checkpoint whose exam is the 12-month fusion assessment.",
    )  # fmt: skip

    objects = OutcomeStandardsQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "outcome standards"
        ordering = ["clinic", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "version"],
                nulls_distinct=False,
                name="outcomestandards_unique_version",
            ),
            models.CheckConstraint(
                condition=models.Q(min_group_size__gte=1), name="outcomestandards_min_group"
            ),
        ]

    def __str__(self) -> str:
        return f"Outcome standards v{self.version} ({self.owner})"

    def clean(self) -> None:
        points = self.time_points
        if not isinstance(points, list) or not points:
            raise ValidationError({"time_points": "A list of at least one time point."})
        codes = set()
        for point in points:
            try:
                opens, target, due = (int(point[k]) for k in ("opens_day", "target_day", "due_day"))
                code, label = str(point["code"]), str(point["label"])
            except (KeyError, TypeError, ValueError):
                raise ValidationError(
                    {"time_points": "Each needs code, label, opens_day, target_day, due_day."}
                ) from None
            if not (0 < opens <= target <= due) or not code or code in codes or not label:
                raise ValidationError(
                    {"time_points": f"{code!r}: 0 < opens_day <= target_day <= due_day, "
                     "codes unique."}
                )  # fmt: skip
            codes.add(code)
