"""The findings rules that look across the patient's exams: cumulative dose, the
modality asked for (CLINICAL_RULES §4)."""

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from .registry import FILMS, Context, Raised, Severity, rule

# The advice behind `modality_mismatch`, also given when an MR is ordered for such a question
# (followup/cds/): [Guide, "New radicular pain"; "Imaging modalities"].
MR_SHOWS_NO_HARDWARE = "MR does not show hardware directly; radiographs and/or CT are needed."
MR_SHOWS_NO_HARDWARE_SOURCE = "Guide, 'New radicular pain'; 'Imaging modalities'"

# --- Across exams ----------------------------------------------------------------------


@rule
def cumulative_dose(ctx: Context) -> Iterator[Raised]:
    if not ctx.own:
        return
    since = ctx.exam.performed_at - timedelta(days=ctx.limits.dose_window_days)
    total = sum(
        (dose for at, dose in ctx.patient_doses if since < at <= ctx.exam.performed_at),
        Decimal(0),
    )
    if total > ctx.limits.cumulative_dose_msv:
        yield Raised(
            "cumulative_dose",
            Severity.INFO,
            f"{total} mSv of effective dose in the {ctx.limits.dose_window_days} days up to "
            f"this exam (above {ctx.limits.cumulative_dose_msv} mSv).",
        )


@rule
def modality_mismatch(ctx: Context) -> Iterator[Raised]:
    """An MR alone where the question is hardware or fusion: MR never shows hardware."""
    if not ctx.own or ctx.exam.modality != "MR" or not (ctx.is_fusion or ctx.surgery.hardware):
        return
    span = timedelta(days=ctx.limits.modality_mismatch_days)
    around = (*ctx.earlier, *ctx.later)
    if any(
        other.modality in FILMS and abs(other.performed_at - ctx.exam.performed_at) <= span
        for other in around
    ):
        return
    yield Raised(
        "modality_mismatch",
        Severity.INFO,
        f"Only MR at day {ctx.day} after surgery with hardware: {MR_SHOWS_NO_HARDWARE}",
        f"exam:{ctx.exam.id}",
    )
