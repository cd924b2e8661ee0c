"""The findings rules of CLINICAL_RULES §4: small pure functions and their registry.

Each rule takes a `Context` (the surgery, this exam and its findings, the surgery's
earlier exams, the baseline film, the day since surgery and the clinic's thresholds)
and yields the alerts it finds. Nothing here touches the database: `evaluation.py`
builds the contexts and stores what the rules return. Adding a rule is adding one
function with `@rule` and its test module.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from patients.levels import vertebrae_of

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

    def first(self, code: str, level: str = "") -> Fact | None:
        for fact in self.findings:
            if fact.code == code and (not level or fact.level == level):
                return fact
        return None

    def shows(self, code: str) -> list[Fact]:
        """The boolean findings of this code that are present."""
        return [fact for fact in self.all(code) if fact.value is True]


@dataclass(frozen=True)
class Limits:
    """The clinic's thresholds (followup.models.Thresholds), as plain numbers."""

    screw_lucency_mm: Decimal = Decimal("2")
    spacer_min_distance_mm: Decimal = Decimal("2")
    spacer_migration_mm: Decimal = Decimal("2")
    early_changes_days: int = 183
    gadolinium_cutoff_days: int = 183
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

    def fused(self, level: str) -> bool:
        """Does the finding's joint lie inside one fused span? (No level: the operated one.)

        After an L4-L5 fusion the L3-L4 and L5-S1 discs still move; after L3-L5 both
        L3-L4 and L4-L5 are fused.
        """
        if not level or not self.levels:
            return True
        joint = set(vertebrae_of(level))
        return any(joint <= set(vertebrae_of(span)) for span in self.levels)


@dataclass(frozen=True)
class Context:
    surgery: SurgeryFacts
    exam: ExamFacts
    earlier: tuple[ExamFacts, ...] = ()  # the surgery's exams before this one, oldest first
    baseline: ExamFacts | None = None  # the reference film (see evaluation.baseline_of)
    baseline_checkpoint_exam: int | None = None  # the exam that satisfied baseline_film
    limits: Limits = field(default_factory=Limits)
    # The patient's (time, dose) of every exam, all surgeries, for the dose rule.
    patient_doses: tuple[tuple[datetime, Decimal], ...] = ()
    # The surgery's other exams after this one, for rules that look around the exam.
    later: tuple[ExamFacts, ...] = ()

    @property
    def day(self) -> int:
        return self.exam.day

    @property
    def is_fusion(self) -> bool:
        return self.surgery.family == "fusion"


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


def _at(fact: Fact) -> str:
    where = " ".join(part for part in (fact.level, fact.side) if part)
    return f" at {where}" if where else ""


def _number(value: object) -> Decimal:
    return Decimal(str(value))


# --- Hardware and fusion ----------------------------------------------------------------


@rule
def baseline_missing(ctx: Context) -> Iterator[Raised]:
    """A later fusion film with nothing earlier to compare it with.

    The reference is the exam that satisfied `baseline_film`, else the earliest
    post-operative film; a film that is its own reference without being the baseline
    has nothing to be compared with.
    """
    if not ctx.is_fusion or ctx.exam.modality not in FILMS:
        return
    reference = ctx.baseline
    if reference is not None and (
        reference.id != ctx.exam.id or ctx.exam.id == ctx.baseline_checkpoint_exam
    ):
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
    if not ctx.is_fusion:
        return
    for code in ("vacuum_disc", "vacuum_facet"):
        for fact in ctx.exam.shows(code):
            if ctx.surgery.fused(fact.level):
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
        reference = baseline.first("spacer_posterior_distance_mm", fact.level)
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
    if ctx.day < ctx.limits.early_changes_days:
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
    if ctx.day >= ctx.limits.gadolinium_cutoff_days:
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
    exam = ctx.exam
    late = ctx.day > ctx.limits.gadolinium_cutoff_days
    if exam.modality == "MR" and exam.contrast == "gadolinium" and late:
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
    if ctx.exam.modality != "MR" or not (ctx.is_fusion or ctx.surgery.hardware):
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
