"""The findings rules about fluid collections, nerve roots, recurrence, contrast and
bone (CLINICAL_RULES §4)."""

from collections.abc import Iterator

from .registry import Context, Raised, Severity, as_number, rule, where

# --- Collections, nerve roots, recurrence ----------------------------------------------


@rule
def abscess(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.all("fluid_collection"):
        if fact.value == "abscess":
            yield Raised("abscess", Severity.URGENT, f"Abscess{where(fact)}.", fact.site)


@rule
def pseudomeningocele(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.all("fluid_collection"):
        if fact.value == "pseudomeningocele":
            yield Raised(
                "pseudomeningocele", Severity.WARNING, f"Pseudomeningocele{where(fact)}.", fact.site
            )


@rule
def radiculitis_possible(ctx: Context) -> Iterator[Raised]:
    early = ctx.limits.early_changes_days
    if early is not None and ctx.day < early:
        return  # root enhancement is an expected change in the first months
    for fact in ctx.exam.shows("root_enhancement"):
        yield Raised(
            "radiculitis_possible",
            Severity.WARNING,
            f"Root enhancement{where(fact)} at day {ctx.day}: possible radiculitis.",
            fact.site,
        )


@rule
def herniation_recurrence(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.all("disc_herniation"):
        if fact.value == "different_from_preop":
            yield Raised(
                "herniation_recurrence",
                Severity.HIGH,
                f"Herniation{where(fact)} different from the pre-operative one: a recurrence.",
                fact.site,
            )


@rule
def contrast_needed(ctx: Context) -> Iterator[Raised]:
    exam = ctx.exam
    if exam.modality != "MR" or exam.contrast != "none":
        return
    cutoff = ctx.limits.gadolinium_cutoff_days
    if cutoff is None or ctx.day >= cutoff:
        return
    for fact in exam.all("disc_herniation"):
        if fact.value == "similar_to_preop":
            yield Raised(
                "contrast_needed",
                Severity.INFO,
                f"Hernial image{where(fact)} similar to the pre-operative one at day {ctx.day}: "
                "not a recurrence by itself; a contrast MR can separate scar from recurrence.",
                fact.site,
            )


@rule
def gadolinium_low_value(ctx: Context) -> Iterator[Raised]:
    exam, cutoff = ctx.exam, ctx.limits.gadolinium_cutoff_days
    if not ctx.own or cutoff is None:
        return  # no cutoff: only discectomy, decompression and fusion have one
    if exam.modality == "MR" and exam.contrast == "gadolinium" and ctx.day > cutoff:
        yield Raised(
            "gadolinium_low_value",
            Severity.INFO,
            f"Gadolinium MR at day {ctx.day}: generally not useful after day "
            f"{ctx.limits.gadolinium_cutoff_days} (mature scar does not enhance).",
            f"exam:{exam.id}",
        )


@rule
def bone_scan_early(ctx: Context) -> Iterator[Raised]:
    if ctx.day >= ctx.limits.fusion_expected_days:
        return
    for fact in ctx.exam.shows("bone_scan_uptake"):
        yield Raised(
            "bone_scan_early",
            Severity.INFO,
            f"Bone-scan uptake{where(fact)} at day {ctx.day}: healing uptake persists 6-12 "
            "months, not evidence of pseudarthrosis.",
            fact.site,
        )


@rule
def new_fracture(ctx: Context) -> Iterator[Raised]:
    for code in ("pars_fracture", "vertebral_fracture"):
        for fact in ctx.exam.shows(code):
            yield Raised(
                "new_fracture",
                Severity.HIGH,
                f"New {code.replace('_', ' ')}{where(fact)}.",
                f"{code}:{fact.site}",
            )


@rule
def adjacent_segment(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.shows("adjacent_segment_degeneration"):
        yield Raised(
            "adjacent_segment",
            Severity.WARNING,
            f"Adjacent segment degeneration{where(fact)}.",
            fact.site,
        )


@rule
def sagittal_malalignment(ctx: Context) -> Iterator[Raised]:
    incidence = ctx.exam.first("pelvic_incidence_deg")
    lordosis = ctx.exam.first("lumbar_lordosis_deg")
    if incidence is None or lordosis is None:
        return
    mismatch = as_number(incidence.value) - as_number(lordosis.value)
    if mismatch > ctx.limits.pi_ll_mismatch_deg:
        yield Raised(
            "sagittal_malalignment",
            Severity.WARNING,
            f"Pelvic incidence minus lumbar lordosis is {mismatch} degrees "
            f"(above {ctx.limits.pi_ll_mismatch_deg}).",
        )
