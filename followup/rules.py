"""The findings rules of CLINICAL_RULES §4: small pure functions and their registry.

Each rule takes a `Context` (one surgery, this exam with the findings judged against
that surgery, the patient's other exams, the surgery's baseline film, the day since
that surgery and its pinned thresholds) and yields the alerts it finds. Nothing here
touches the database: `evaluation.py`
builds the contexts and stores what the rules return. Adding a rule is adding one
function with `@rule` and its test module.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from .models.alerts import Severity

FILMS = frozenset({"XR", "CT"})  # what shows hardware and bone


@dataclass(frozen=True)
class Fact:
    """One finding: `code`, `value`, and where (`level`, `side`)."""

    code: str
    value: object
    level: str = ""
    side: str = ""

    @property
    def site(self) -> str:
        return f"{self.level}:{self.side}" if (self.level or self.side) else ""


@dataclass(frozen=True)
class ExamFacts:
    id: int
    modality: str
    performed_at: datetime
    day: int  # days since the surgery, counted on the clinic's calendar
    contrast: str = "none"
    dose_msv: Decimal | None = None
    findings: tuple[Fact, ...] = ()

    def all(self, code: str) -> list[Fact]:
        return [fact for fact in self.findings if fact.code == code]

    def first(self, code: str) -> Fact | None:
        return next((fact for fact in self.findings if fact.code == code), None)

    def at(self, code: str, level: str) -> Fact | None:
        """The finding of this code at exactly this (normalised) level."""
        return next((f for f in self.findings if f.code == code and f.level == level), None)

    def shows(self, code: str) -> list[Fact]:
        """The boolean findings of this code that are present."""
        return [fact for fact in self.all(code) if fact.value is True]


@dataclass(frozen=True)
class Limits:
    """The clinic's thresholds (followup.models.Thresholds), as plain numbers."""

    screw_lucency_mm: Decimal = Decimal("2")
    spacer_min_distance_mm: Decimal = Decimal("2")
    spacer_migration_mm: Decimal = Decimal("2")
    # Days of the surgery's protocol milestones `early_changes_end` and
    # `gadolinium_cutoff`; None where its protocol has no such milestone.
    early_changes_days: int | None = 183
    gadolinium_cutoff_days: int | None = 183
    delayed_fusion_days: int = 270
    fusion_expected_days: int = 365
    pi_ll_mismatch_deg: Decimal = Decimal("10")
    cumulative_dose_msv: Decimal = Decimal("20")
    dose_window_days: int = 365
    modality_mismatch_days: int = 30


@dataclass(frozen=True)
class SurgeryFacts:
    id: int
    procedure: str
    family: str  # fusion, disc_surgery, none
    levels: tuple[str, ...] = ()
    hardware: tuple[str, ...] = ()
    # The joints (`L4-L5`) its levels span, and the vertebrae they cover (normalised;
    # see evaluation.surgery_facts). `L3-L5` spans the joints L3-L4 and L4-L5.
    joints: tuple[str, ...] = ()
    vertebrae: tuple[str, ...] = ()

    @property
    def is_fusion(self) -> bool:
        return self.family == "fusion"

    @property
    def single_joint(self) -> str:
        """Its one joint, where it operated exactly one; else "" (CLINICAL_RULES §3)."""
        return self.joints[0] if len(self.joints) == 1 else ""

    def fused(self, level: str) -> bool:
        """Does this fusion hold the finding's joint? (No level: a joint it operated.)

        After an L4-L5 fusion the L3-L4 and L5-S1 discs still move; after L3-L5 both
        L3-L4 and L4-L5 are fused.
        """
        if not self.is_fusion:
            return False
        if not level or not self.levels:
            return True
        return level in self.joints


@dataclass(frozen=True)
class Context:
    """One exam seen from one surgery of the patient (CLINICAL_RULES §2, "Several
    surgeries"): its own surgery, or an earlier one that operated the level of some of
    its findings. `exam.findings` holds the findings judged against this surgery."""

    surgery: SurgeryFacts
    exam: ExamFacts
    earlier: tuple[ExamFacts, ...] = ()  # the patient's exams before this one, oldest first
    # The film that satisfied this surgery's `baseline_film` (only ever an early film).
    baseline: ExamFacts | None = None
    limits: Limits = field(default_factory=Limits)
    # The patient's (time, dose) of every exam, all surgeries, for the dose rule.
    patient_doses: tuple[tuple[datetime, Decimal], ...] = ()
    # The patient's other exams after this one, for rules that look around the exam.
    later: tuple[ExamFacts, ...] = ()
    # Is this the exam's own surgery? Rules about the exam as a whole run there only.
    own: bool = True
    # The due time of this surgery's `baseline_film` while it is neither satisfied nor
    # waived; None otherwise (or when its protocol has no baseline film).
    baseline_due: datetime | None = None
    # The patient's fusions done before the exam (this surgery too, if it is one).
    fusions: tuple[SurgeryFacts, ...] = ()

    @property
    def day(self) -> int:
        return self.exam.day

    @property
    def is_fusion(self) -> bool:
        return self.surgery.is_fusion


# Causes about the patient as a whole: one alert per patient, whatever the surgeries.
PATIENT_CODES = frozenset({"cumulative_dose"})


@dataclass(frozen=True)
class Raised:
    code: str
    severity: Severity
    message: str
    subject: str = ""


Rule = Callable[[Context], Iterable[Raised]]
RULES: list[Rule] = []


def rule(function: Rule) -> Rule:
    RULES.append(function)
    return function


def run_all(context: Context) -> list[Raised]:
    return [raised for check in RULES for raised in check(context)]


def quiet_without_findings(context: Context) -> bool:
    """What the evaluation relies on to skip contexts: seen from a surgery that is not the
    exam's own, with no finding judged against it and its baseline not missing, no rule
    raises anything (tests/followup/rules/test_registry.py holds every rule to it)."""
    return (
        not context.own and not context.exam.findings and context.baseline_due is None
    )


def _at(fact: Fact) -> str:
    where = " ".join(part for part in (fact.level, fact.side) if part)
    return f" at {where}" if where else ""


def _number(value: object) -> Decimal:
    return Decimal(str(value))


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
        if _number(fact.value) > ctx.limits.screw_lucency_mm:
            yield Raised(
                "screw_loosening",
                Severity.HIGH,
                f"Screw lucency {fact.value} mm{_at(fact)} (loosening above "
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
                f"Resorption with ill-defined margins around a screw{_at(fact)}: "
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
                f"No bridging{_at(fact)} at day {ctx.day} (expected by day "
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
                f"Bridging {fact.value}{_at(fact)} at day {ctx.day}: no continuous bridge "
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
                    f"Gas in the {code.removeprefix('vacuum_')}{_at(fact)} at a fused level: "
                    "the joint moves.",
                    fact.site,
                )


def _other_pseudarthrosis_signs(ctx: Context) -> bool:
    """Anything that makes gas around the spacer more than a locked pseudarthrosis."""
    exam, limits = ctx.exam, ctx.limits
    return bool(
        exam.shows("vacuum_disc")
        or exam.shows("vacuum_facet")
        or any(_number(f.value) > limits.screw_lucency_mm for f in exam.all("screw_lucency_mm"))
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
            f"Gas only around the spacer{_at(fact)}, no other sign: locked pseudarthrosis, "
            "not a cause of instability.",
            fact.site,
        )


@rule
def spacer_too_posterior(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.all("spacer_posterior_distance_mm"):
        if _number(fact.value) < ctx.limits.spacer_min_distance_mm:
            yield Raised(
                "spacer_too_posterior",
                Severity.WARNING,
                f"Spacer {fact.value} mm from the posterior corner{_at(fact)} "
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
        moved = abs(_number(fact.value) - _number(reference.value))
        if moved > ctx.limits.spacer_migration_mm:
            yield Raised(
                "spacer_migration",
                Severity.HIGH,
                f"Spacer{_at(fact)} at {fact.value} mm, {reference.value} mm on the baseline "
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
                f"Broken {code.removesuffix('_fracture')}{_at(fact)}.",
                f"{code}:{fact.site}",
            )


@rule
def screw_misplaced(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.shows("screw_in_canal"):
        yield Raised(
            "screw_misplaced", Severity.URGENT, f"Screw in the spinal canal{_at(fact)}.", fact.site
        )


# --- Collections, nerve roots, recurrence ----------------------------------------------


@rule
def abscess(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.all("fluid_collection"):
        if fact.value == "abscess":
            yield Raised("abscess", Severity.URGENT, f"Abscess{_at(fact)}.", fact.site)


@rule
def pseudomeningocele(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.all("fluid_collection"):
        if fact.value == "pseudomeningocele":
            yield Raised(
                "pseudomeningocele", Severity.WARNING, f"Pseudomeningocele{_at(fact)}.", fact.site
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
            f"Root enhancement{_at(fact)} at day {ctx.day}: possible radiculitis.",
            fact.site,
        )


@rule
def herniation_recurrence(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.all("disc_herniation"):
        if fact.value == "different_from_preop":
            yield Raised(
                "herniation_recurrence",
                Severity.HIGH,
                f"Herniation{_at(fact)} different from the pre-operative one: a recurrence.",
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
                f"Hernial image{_at(fact)} similar to the pre-operative one at day {ctx.day}: "
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
            f"Bone-scan uptake{_at(fact)} at day {ctx.day}: healing uptake persists 6-12 "
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
                f"New {code.replace('_', ' ')}{_at(fact)}.",
                f"{code}:{fact.site}",
            )


@rule
def adjacent_segment(ctx: Context) -> Iterator[Raised]:
    for fact in ctx.exam.shows("adjacent_segment_degeneration"):
        yield Raised(
            "adjacent_segment",
            Severity.WARNING,
            f"Adjacent segment degeneration{_at(fact)}.",
            fact.site,
        )


@rule
def sagittal_malalignment(ctx: Context) -> Iterator[Raised]:
    incidence = ctx.exam.first("pelvic_incidence_deg")
    lordosis = ctx.exam.first("lumbar_lordosis_deg")
    if incidence is None or lordosis is None:
        return
    mismatch = _number(incidence.value) - _number(lordosis.value)
    if mismatch > ctx.limits.pi_ll_mismatch_deg:
        yield Raised(
            "sagittal_malalignment",
            Severity.WARNING,
            f"Pelvic incidence minus lumbar lordosis is {mismatch} degrees "
            f"(above {ctx.limits.pi_ll_mismatch_deg}).",
        )


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
        f"Only MR at day {ctx.day} after surgery with hardware: MR does not show hardware "
        "directly; radiographs and/or CT are needed.",
        f"exam:{ctx.exam.id}",
    )
