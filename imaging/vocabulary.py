"""The findings vocabulary of CLINICAL_RULES §3: one table of definitions.

Each code says what kind of value it takes and which values are plausible;
validation, the API schema, the admin and the database constraints all read
this table, so adding a code is adding one row. `level_kind` says what a finding's
level names (a joint, a vertebra, or any level), checked by `patients.levels.check_level`
on every write path.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from django.db import models

from patients.levels import LevelKind


class FindingCode(models.TextChoices):
    BRIDGING = "bridging"
    SCREW_LUCENCY_MM = "screw_lucency_mm", "Screw lucency (mm)"
    PERISCREW_MARGIN = "periscrew_margin"
    VACUUM_DISC = "vacuum_disc"
    VACUUM_FACET = "vacuum_facet"
    VACUUM_SPACER_ONLY = "vacuum_spacer_only"
    SPACER_POSTERIOR_DISTANCE_MM = (
        "spacer_posterior_distance_mm",
        "Spacer posterior distance (mm)",
    )
    ROD_FRACTURE = "rod_fracture"
    SCREW_FRACTURE = "screw_fracture"
    SCREW_IN_CANAL = "screw_in_canal"
    FLUID_COLLECTION = "fluid_collection"
    ROOT_ENHANCEMENT = "root_enhancement"
    DISC_HERNIATION = "disc_herniation"
    BONE_SCAN_UPTAKE = "bone_scan_uptake"
    PARS_FRACTURE = "pars_fracture"
    VERTEBRAL_FRACTURE = "vertebral_fracture"
    ADJACENT_SEGMENT_DEGENERATION = "adjacent_segment_degeneration"
    PELVIC_INCIDENCE_DEG = "pelvic_incidence_deg", "Pelvic incidence (degrees)"
    LUMBAR_LORDOSIS_DEG = "lumbar_lordosis_deg", "Lumbar lordosis (degrees)"


class ValueType(StrEnum):
    NUMBER = "number"
    BOOLEAN = "boolean"
    CHOICE = "choice"


@dataclass(frozen=True)
class Definition:
    type: ValueType
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    choices: tuple[str, ...] = ()
    level_kind: LevelKind = LevelKind.ANY

    def clean(self, value: object) -> object:
        """The value in its canonical form, or ValueError with a message for a person."""
        match self.type:
            case ValueType.BOOLEAN:
                if not isinstance(value, bool):
                    raise ValueError("must be true or false")
                return value
            case ValueType.CHOICE:
                if value not in self.choices:
                    raise ValueError(f"must be one of: {', '.join(self.choices)}")
                return value
            case ValueType.NUMBER:
                return self._clean_number(value)

    def from_text(self, text: str) -> object:
        """Read a value typed by a person (the admin's form) and clean it."""
        text = text.strip()
        if self.type is ValueType.BOOLEAN:
            lowered = text.lower()
            if lowered in {"true", "yes", "1"}:
                return True
            if lowered in {"false", "no", "0"}:
                return False
            raise ValueError("must be yes or no")
        if self.type is ValueType.NUMBER:
            try:
                return self.clean(Decimal(text))
            except InvalidOperation:
                raise ValueError("must be a number") from None
        return self.clean(text)

    def _clean_number(self, value: object) -> float:
        # A JSON number, not a string that looks like one: integrations must send types.
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValueError("must be a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError("must be a number") from None
        if not number.is_finite():
            raise ValueError("must be a finite number")
        if not (self.minimum <= number <= self.maximum):
            raise ValueError(f"must be between {self.minimum} and {self.maximum}")
        return float(number)


def _number(minimum: int, maximum: int, level: LevelKind = LevelKind.ANY) -> Definition:
    return Definition(ValueType.NUMBER, Decimal(minimum), Decimal(maximum), level_kind=level)


def _choice(*choices: str, level: LevelKind = LevelKind.ANY) -> Definition:
    return Definition(ValueType.CHOICE, choices=choices, level_kind=level)


def _boolean(level: LevelKind = LevelKind.ANY) -> Definition:
    return Definition(ValueType.BOOLEAN, level_kind=level)


# What a finding's level names (CLINICAL_RULES §3 "Levels"); a finding may have no level.
JOINT, VERTEBRA = LevelKind.JOINT, LevelKind.VERTEBRA

VOCABULARY: dict[str, Definition] = {
    FindingCode.BRIDGING: _choice("none", "partial", "complete", level=JOINT),
    FindingCode.SCREW_LUCENCY_MM: _number(0, 20, level=VERTEBRA),
    FindingCode.PERISCREW_MARGIN: _choice("sclerotic_rim", "ill_defined", level=VERTEBRA),
    FindingCode.VACUUM_DISC: _boolean(level=JOINT),
    FindingCode.VACUUM_FACET: _boolean(level=JOINT),
    FindingCode.VACUUM_SPACER_ONLY: _boolean(level=JOINT),
    FindingCode.SPACER_POSTERIOR_DISTANCE_MM: _number(-10, 30, level=JOINT),
    FindingCode.ROD_FRACTURE: _boolean(),
    FindingCode.SCREW_FRACTURE: _boolean(level=VERTEBRA),
    FindingCode.SCREW_IN_CANAL: _boolean(level=VERTEBRA),
    FindingCode.FLUID_COLLECTION: _choice(
        "none", "seroma", "haematoma", "abscess", "pseudomeningocele"
    ),
    FindingCode.ROOT_ENHANCEMENT: _boolean(),
    FindingCode.DISC_HERNIATION: _choice(
        "none", "similar_to_preop", "different_from_preop", level=JOINT
    ),
    FindingCode.BONE_SCAN_UPTAKE: _boolean(),
    FindingCode.PARS_FRACTURE: _boolean(level=VERTEBRA),
    FindingCode.VERTEBRAL_FRACTURE: _boolean(level=VERTEBRA),
    FindingCode.ADJACENT_SEGMENT_DEGENERATION: _boolean(level=JOINT),
    # Plausible ranges for the full-spine alignment parameters; a negative lordosis is
    # a kyphotic lumbar spine.
    FindingCode.PELVIC_INCIDENCE_DEG: _number(0, 120),
    FindingCode.LUMBAR_LORDOSIS_DEG: _number(-60, 120),
}

assert set(VOCABULARY) == set(FindingCode.values), "every finding code needs a definition"


def numeric_codes_with_minimum() -> dict[str, Decimal]:
    return {
        code: definition.minimum
        for code, definition in VOCABULARY.items()
        if definition.type is ValueType.NUMBER
    }
