"""The numbers the findings rules compare against (CLINICAL_RULES §4), as clinic data.

Versioned like protocols (versioned.py): saving in the admin creates a new version; the newest
version of the clinic (else of the shared default) is the one in force, which a
surgery is pinned to when it is planned (`Surgery.thresholds`). The surgery keeps it,
as it keeps its protocol version, until staff re-plan it (CLINICAL_RULES §4).
"""

from django.db import models

from ..rules import Limits
from ..rules.recurrence import RecurrenceLimits
from .versioned import VersionedModel, VersionedQuerySet, clinic_field

# The defaults are the rules' own (one place for each number); a migration keeps the
# values it was written with.
LIMITS, PATTERN = Limits(), RecurrenceLimits()


class ThresholdsQuerySet(VersionedQuerySet):
    def current(self, clinic_id: int | None) -> "Thresholds":
        """What a surgery planned now is pinned to."""
        return self.in_force(clinic_id) or Thresholds()  # the defaults, if the table were emptied


class Thresholds(VersionedModel):
    clinic = clinic_field("thresholds")

    screw_lucency_mm = models.DecimalField(
        max_digits=5, decimal_places=2, default=LIMITS.screw_lucency_mm,
        help_text="Loosening: resorption wider than this around a screw (Guide).",
    )  # fmt: skip
    spacer_min_distance_mm = models.DecimalField(
        max_digits=5, decimal_places=2, default=LIMITS.spacer_min_distance_mm,
        help_text="A spacer closer than this to the posterior corner is too posterior (Guide).",
    )  # fmt: skip
    spacer_migration_mm = models.DecimalField(
        max_digits=5, decimal_places=2, default=LIMITS.spacer_migration_mm,
        help_text="Spacer moved: distance differs from the baseline film by more than this "
        "(default, not from the seeds).",
    )  # fmt: skip
    # The end of early changes and the gadolinium cutoff are the protocol's milestones
    # (`early_changes_end`, `gadolinium_cutoff`): one place for each number.
    delayed_fusion_days = models.PositiveIntegerField(
        default=LIMITS.delayed_fusion_days, help_text="No bridging after this day: delayed fusion."
    )
    fusion_expected_days = models.PositiveIntegerField(
        default=LIMITS.fusion_expected_days,
        help_text="From this day no continuous bridging suggests pseudarthrosis; "
        "bone-scan uptake before it is not evidence.",
    )  # fmt: skip
    pi_ll_mismatch_deg = models.DecimalField(
        max_digits=5, decimal_places=1, default=LIMITS.pi_ll_mismatch_deg,
        help_text="PI minus LL above this is malalignment (SRS-Schwab, not from the seeds).",
    )  # fmt: skip
    cumulative_dose_msv = models.DecimalField(
        max_digits=7, decimal_places=2, default=LIMITS.cumulative_dose_msv,
        help_text="Effective dose over the dose window above this (default, not from the seeds).",
    )  # fmt: skip
    dose_window_days = models.PositiveIntegerField(default=LIMITS.dose_window_days)
    modality_mismatch_days = models.PositiveIntegerField(
        default=LIMITS.modality_mismatch_days,
        help_text="An MR with no radiograph or CT this many days around it, where the question "
        "is hardware or fusion (default, not from the seeds).",
    )

    pain_free_nrs = models.PositiveSmallIntegerField(
        default=PATTERN.pain_free_nrs,
        help_text="Back pain (NRS) at or below this is a pain-free interval (§6).",
    )
    recurrence_rise_nrs = models.PositiveSmallIntegerField(
        default=PATTERN.recurrence_rise_nrs,
        help_text="A rise of this many NRS points after it is a recurrence (MCID, not from "
        "the seeds).",
    )
    recurrence_min_days = models.PositiveIntegerField(
        default=PATTERN.recurrence_min_days,
        help_text="A recurrence counts from this day after surgery.",
    )

    objects = ThresholdsQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "thresholds"
        ordering = ["clinic", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "version"], nulls_distinct=False, name="thresholds_unique_version"
            )
        ]

    def __str__(self) -> str:
        return f"Thresholds v{self.version} ({self.owner})"
