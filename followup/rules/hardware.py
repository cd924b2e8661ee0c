"""The findings rules about hardware and fusion (CLINICAL_RULES §4)."""

from collections.abc import Iterator

from .registry import FILMS, Context, Raised, Severity, as_number, rule, where

# --- Hardware and fusion ----------------------------------------------------------------


@rule
def baseline_missing(ctx: Context) -> Iterator[Raised]:
    """The baseline window has closed with no baseline film (not waived), and a later
    fusion film has nothing to be compared with. The early CT in an open window, or a
    film after staff waived the baseline, raise nothing."""
    if not ctx.is_fusion or ctx.exam.modality not in FILMS or ctx.baseline_due is None:
        return
    if ctx.exam.performed_at < ctx.baseline_due:
        return
    yield Raised(
        "baseline_missing",
        Severity.WARNING,
        f"Film at day {ctx.day} has no early post-operative baseline film to compare with.",
    )


@rule
def screw_loosening(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.all("screw_lucency_mm"):
        if as_number(fact.value) > ctx.limits.screw_lucency_mm:
            yield Raised(
                "screw_loosening",
                Severity.HIGH,
                f"Screw lucency {fact.value} mm{where(fact)} (loosening above "
                f"{ctx.limits.screw_lucency_mm} mm).",
                fact.site,
            )


@rule
def periscrew_infection(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.all("periscrew_margin"):
        if fact.value == "ill_defined":
            yield Raised(
                "periscrew_infection",
                Severity.URGENT,
                f"Resorption with ill-defined margins around a screw{where(fact)}: "
                "highly suggestive of infection.",
                fact.site,
            )


@rule
def delayed_fusion(ctx: Context) -> Iterator[Raised]:
    # "MRI is not a good choice to assess bone fusion": bridging is read on films.
    if ctx.day <= ctx.limits.delayed_fusion_days or ctx.exam.modality not in FILMS:
        return
    for fact in ctx.exam.all("bridging"):
        if fact.value == "none":
            yield Raised(
                "delayed_fusion",
                Severity.WARNING,
                f"No bridging{where(fact)} at day {ctx.day} (expected by day "
                f"{ctx.limits.delayed_fusion_days}).",
                fact.site,
            )


@rule
def pseudarthrosis_suspected(ctx: Context) -> Iterator[Raised]:
    if ctx.day < ctx.limits.fusion_expected_days or ctx.exam.modality not in FILMS:
        return
    for fact in ctx.exam.all("bridging"):
        if fact.value in ("none", "partial"):
            yield Raised(
                "pseudarthrosis_suspected",
                Severity.HIGH,
                f"Bridging {fact.value}{where(fact)} at day {ctx.day}: no continuous bridge "
                "in the expected time (1 year).",
                fact.site,
            )


@rule
def micromotion(ctx: Context) -> Iterator[Raised]:
    """Gas at a joint fused by any of the patient's fusions done before the exam; without
    a level, at a joint of this surgery's fusion."""
    fusions = ctx.fusions or (ctx.surgery,)
    for code in ("vacuum_disc", "vacuum_facet"):
        for fact in ctx.exam.shows(code):
            fused = (
                any(fusion.fused(fact.level) for fusion in fusions)
                if fact.level
                else ctx.surgery.fused("")
            )
            if fused:
                yield Raised(
                    "micromotion",
                    Severity.HIGH,
                    f"Gas in the {code.removeprefix('vacuum_')}{where(fact)} at a fused level: "
                    "the joint moves.",
                    fact.site,
                )


def _other_pseudarthrosis_signs(ctx: Context) -> bool:
    """Anything that makes gas around the spacer more than a locked pseudarthrosis."""
    exam, limits = ctx.exam, ctx.limits
    return bool(
        exam.shows("vacuum_disc")
        or exam.shows("vacuum_facet")
        or any(as_number(f.value) > limits.screw_lucency_mm for f in exam.all("screw_lucency_mm"))
        or any(f.value == "ill_defined" for f in exam.all("periscrew_margin"))
        or exam.shows("rod_fracture")
        or exam.shows("screw_fracture")
        or any(True for _ in spacer_migration(ctx))
        or (
            ctx.day >= limits.fusion_expected_days
            and any(f.value in ("none", "partial") for f in exam.all("bridging"))
        )
    )


@rule
def locked_pseudarthrosis(ctx: Context) -> Iterator[Raised]:
    if _other_pseudarthrosis_signs(ctx):
        return
    for fact in ctx.exam.shows("vacuum_spacer_only"):
        yield Raised(
            "locked_pseudarthrosis",
            Severity.INFO,
            f"Gas only around the spacer{where(fact)}, no other sign: locked pseudarthrosis, "
            "not a cause of instability.",
            fact.site,
        )


@rule
def spacer_too_posterior(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.all("spacer_posterior_distance_mm"):
        if as_number(fact.value) < ctx.limits.spacer_min_distance_mm:
            yield Raised(
                "spacer_too_posterior",
                Severity.WARNING,
                f"Spacer {fact.value} mm from the posterior corner{where(fact)} "
                f"(well placed from {ctx.limits.spacer_min_distance_mm} mm).",
                fact.site,
            )


@rule
def spacer_migration(ctx: Context) -> Iterator[Raised]:
    baseline = ctx.baseline
    if baseline is None or baseline.id == ctx.exam.id:
        return
    for fact in ctx.exam.all("spacer_posterior_distance_mm"):
        # A value without a level on a multi-level fusion is at an unknown level: it is
        # never compared (a single-level one was given its level by the evaluation).
        if not fact.level and len(ctx.surgery.joints) > 1:
            continue
        reference = baseline.at("spacer_posterior_distance_mm", fact.level)
        if reference is None:
            continue
        moved = abs(as_number(fact.value) - as_number(reference.value))
        if moved > ctx.limits.spacer_migration_mm:
            yield Raised(
                "spacer_migration",
                Severity.HIGH,
                f"Spacer{where(fact)} at {fact.value} mm, {reference.value} mm on the baseline "
                f"film of day {baseline.day}: it has moved, the fusion has failed.",
                fact.site,
            )


@rule
def hardware_fracture(ctx: Context) -> Iterator[Raised]:
    for code in ("rod_fracture", "screw_fracture"):
        for fact in ctx.exam.shows(code):
            yield Raised(
                "hardware_fracture",
                Severity.HIGH,
                f"Broken {code.removesuffix('_fracture')}{where(fact)}.",
                f"{code}:{fact.site}",
            )


@rule
def screw_misplaced(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.shows("screw_in_canal"):
        message = f"Screw in the spinal canal{where(fact)}."
        yield Raised("screw_misplaced", Severity.URGENT, message, fact.site)
