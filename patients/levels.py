"""Spinal levels, C1..S1 (CLINICAL_RULES §3).

A level is a vertebra (`L5`), a joint (`L4-L5`: two adjacent vertebrae, the disc
level) or a span (`L3-L5`, `L4-S1`: what a surgery covers). Its canonical form is
upper case with one hyphen, the upper vertebra first and the lower one named in
full; `normalise` turns what people write (`l4-l5`, `L4/L5`, `L4-5`) into it, and
only the canonical form is stored and compared.

`L6` exists for a patient with six lumbar vertebrae (a lumbarisation,
`Patient.lumbar_vertebrae == 6`): their column runs ... L4, L5, L6, S1, so their
joints are ... L4-L5, L5-L6, L6-S1; with five it runs ... L4, L5, S1. Levels are
stored as numbered, never renumbered: whether a level fits a patient is for
`check_level`, which the write paths call with the patient's count.

The pure helpers (`normalise`, `is_joint`, `is_vertebra`, `vertebrae_of`,
`joints_of`) read no database. They take the patient's `lumbar_vertebrae`
(default 5); a level that names L6 is read in the six-lumbar column whatever that
argument says, so that a stored level never makes them fail.
"""

import re
from enum import StrEnum
from itertools import pairwise

from django.core.exceptions import ValidationError

LUMBAR_COUNTS = (5, 6)


def column(lumbar_vertebrae: int = 5) -> tuple[str, ...]:
    """The vertebrae top to bottom, for a patient with this many lumbar vertebrae."""
    if lumbar_vertebrae not in LUMBAR_COUNTS:
        raise ValueError(f"lumbar_vertebrae is 5 or 6, not {lumbar_vertebrae!r}")
    return (
        *(f"C{n}" for n in range(1, 8)),
        *(f"T{n}" for n in range(1, 13)),
        *(f"L{n}" for n in range(1, lumbar_vertebrae + 1)),
        "S1",
    )


VERTEBRAE: tuple[str, ...] = column(5)  # the usual column
# Every name a level may use, in order: L6 sits between L5 and S1 when it exists.
_ORDER = {name: index for index, name in enumerate(column(6))}
_COLUMNS = {count: column(count) for count in LUMBAR_COUNTS}
_POSITION = {count: {v: i for i, v in enumerate(c)} for count, c in _COLUMNS.items()}

# `L4`, `L4-L5`, `l4/l5`, `L4-5`, `L4 - L5`, `L5\u2013S1` (an en dash, as word
# processors type it).
_TEXT = re.compile(r"([CTLS])(\d{1,2})(?:\s*[-/\u2013\u2014]\s*([CTLS])?(\d{1,2}))?", re.IGNORECASE)
_NAMES = "C1..C7, T1..T12, L1..L5 (L6 with six lumbar vertebrae) and S1"


class LevelKind(StrEnum):
    """What a level must name, per finding code (imaging/vocabulary.py)."""

    JOINT = "joint"  # a disc level: two adjacent vertebrae (L4-L5)
    VERTEBRA = "vertebra"  # one vertebra (L5)
    ANY = "any"  # a vertebra, a joint or a span


def normalise(text: str) -> str:
    """The canonical form of a level (`l4/5` -> `L4-L5`), or ValidationError saying why not.

    Checks the names and their order only, not the patient: `L6` is a level here.
    """
    match = _TEXT.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValidationError(
            f"'{_shown(text)}' is not a spinal level: write a vertebra (L5) or two vertebrae "
            f"joined by a hyphen (L4-L5, L4-S1), from {_NAMES}.",
            code="invalid_level",
        )
    region, number, lower_region, lower_number = match.groups()
    upper = _vertebra(text, region, number)
    if lower_number is None:
        return upper
    lower = _vertebra(text, lower_region or region, lower_number)
    if _ORDER[lower] <= _ORDER[upper]:
        raise ValidationError(
            f"'{text}': the second vertebra must be below the first (e.g. L4-L5).",
            code="invalid_level",
        )
    return f"{upper}-{lower}"


def _shown(text: object) -> str:
    # An error message quotes what was sent, never a whole hostile payload.
    text = str(text)
    return text if len(text) <= 20 else f"{text[:20]}..."


def _vertebra(text: str, region: str, number: str) -> str:
    name = f"{region.upper()}{int(number)}"
    if name not in _ORDER:
        raise ValidationError(
            f"'{text}' is not a spinal level: there is no {name}; the vertebrae are {_NAMES}.",
            code="invalid_level",
        )
    return name


def validate_level(value: str) -> None:
    """The model fields' validator: a canonical level, whatever the patient (L6 included).

    Forms and serializers normalise first (`normalise`), so what reaches a model is
    canonical; anything else would be compared as a different level.
    """
    canonical = normalise(value)
    if canonical != value:
        raise ValidationError(f"'{value}' must be written {canonical}.", code="non_canonical_level")


def _parts(level: str) -> list[str]:
    return normalise(level).split("-")


def _lumbar(parts: list[str], lumbar_vertebrae: int) -> int:
    # A level that names L6 can only be read in the six-lumbar column.
    return 6 if "L6" in parts else lumbar_vertebrae


def is_vertebra(level: str) -> bool:
    """True for one vertebra (`L5`, `l5`, `L6`); False for a joint, a span or not a level."""
    try:
        return len(_parts(level)) == 1
    except ValidationError:
        return False


def is_joint(level: str, lumbar_vertebrae: int = 5) -> bool:
    """True for two adjacent vertebrae (a disc level) in this column: `L5-S1` is a joint
    with five lumbar vertebrae, `L5-L6` and `L6-S1` are joints (L6 implies six), `L5-S1`
    is not a joint with six. False for a vertebra, a longer span or not a level."""
    try:
        parts = _parts(level)
    except ValidationError:
        return False
    if len(parts) != 2:
        return False
    position = _POSITION[_lumbar(parts, lumbar_vertebrae)]
    return position[parts[1]] - position[parts[0]] == 1


def vertebrae_of(level: str, lumbar_vertebrae: int = 5) -> list[str]:
    """The vertebrae a level covers, top to bottom: `L4-S1` -> [L4, L5, S1] with five
    lumbar vertebrae, [L4, L5, L6, S1] with six; `L5` -> [L5].

    Accepts any written form; raises ValidationError for what is not a level.
    """
    parts = _parts(level)
    count = _lumbar(parts, lumbar_vertebrae)
    position = _POSITION[count]
    return list(_COLUMNS[count][position[parts[0]] : position[parts[-1]] + 1])


def joints_of(span: str, lumbar_vertebrae: int = 5) -> list[str]:
    """The joints (disc levels) a span crosses: `L3-L5` -> [L3-L4, L4-L5]; `L4-S1` ->
    [L4-L5, L5-S1] with five lumbar vertebrae, [L4-L5, L5-L6, L6-S1] with six; a joint
    -> [itself]; a vertebra -> []."""
    covered = vertebrae_of(span, lumbar_vertebrae)
    return [f"{upper}-{lower}" for upper, lower in pairwise(covered)]


def check_level(level: str, *, kind: LevelKind | str, lumbar_vertebrae: int) -> str:
    """The canonical level if it fits this kind and this patient's column, else
    ValidationError with a message for a person. Called by every write path."""
    canonical = normalise(level)
    parts = canonical.split("-")
    if "L6" in parts and lumbar_vertebrae != 6:
        raise ValidationError(
            f"{canonical} names L6, which exists only for a patient with six lumbar "
            f"vertebrae (a lumbarisation); this patient's lumbar_vertebrae is "
            f"{lumbar_vertebrae}.",
            code="no_l6",
        )
    kind = LevelKind(kind)
    if kind is LevelKind.JOINT and not is_joint(canonical, lumbar_vertebrae):
        example = "L5-L6, L6-S1" if lumbar_vertebrae == 6 else "L4-L5, L5-S1"
        if len(parts) == 1:
            why = f"{canonical} is a vertebra"
        elif canonical == "L5-S1":  # with six lumbar vertebrae L6 lies between them
            why = "L5 and S1 are not adjacent with six lumbar vertebrae"
        else:
            why = f"{canonical} spans more than one joint"
        raise ValidationError(
            f"{why}: this finding is about a joint, give a disc level, two adjacent "
            f"vertebrae (e.g. {example}).",
            code="not_a_joint",
        )
    if kind is LevelKind.VERTEBRA and len(parts) != 1:
        raise ValidationError(
            f"{canonical} is not one vertebra: this finding is about a vertebra or its "
            f"screws, give one vertebra (e.g. {parts[0]}).",
            code="not_a_vertebra",
        )
    return canonical


def variant_note(variant: str, lumbar_vertebrae: int = 5) -> str:
    """What the top of the picture says about the patient's lumbosacral junction."""
    if lumbar_vertebrae == 6:
        count = "6 lumbar vertebrae (lumbarisation)"
        return f"{count}; {variant}" if variant else count
    return variant
