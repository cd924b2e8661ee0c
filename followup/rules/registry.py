"""What a findings rule reads (a `Context`: the surgery's and the exam's facts, the
patient's other exams, the thresholds), what it returns (`Raised`), and the registry
that runs every rule (`rule`, `run_all`). Pure: no Django, no database."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from .default_protocols import EARLY_CHANGES, GADOLINIUM_CUTOFF


class Severity(StrEnum):
    """How much a finding matters, least to most. Defined here, without Django, because
    the rules decide it; the Alert model's choices are made from it (models/alerts.py)."""

    INFO = "info"
    WARNING = "warning"
    HIGH = "high"
    URGENT = "urgent"


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
    """The clinic's thresholds (followup.models.Thresholds), as plain numbers.

    The defaults here are the only ones: the Thresholds model's field defaults are read
    from them, and the milestone days from the default protocols."""

    screw_lucency_mm: Decimal = Decimal("2")
    spacer_min_distance_mm: Decimal = Decimal("2")
    spacer_migration_mm: Decimal = Decimal("2")
    # Days of the surgery's protocol milestones `early_changes_end` and
    # `gadolinium_cutoff`; None where its protocol has no such milestone.
    early_changes_days: int | None = EARLY_CHANGES["due_day"]
    gadolinium_cutoff_days: int | None = GADOLINIUM_CUTOFF["due_day"]
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
    return not context.own and not context.exam.findings and context.baseline_due is None


def where(fact: Fact) -> str:
    """Where the finding is, as " at L4 left"; "" when it has neither level nor side."""
    place = " ".join(part for part in (fact.level, fact.side) if part)
    return f" at {place}" if place else ""


def as_number(value: object) -> Decimal:
    return Decimal(str(value))
