"""Spinal level naming, C1..S1: a single vertebra (`L5`) or a span (`L4-L5`, `L4-S1`)."""

import re

from django.core.exceptions import ValidationError

VERTEBRAE: tuple[str, ...] = (
    *(f"C{n}" for n in range(1, 8)),
    *(f"T{n}" for n in range(1, 13)),
    *(f"L{n}" for n in range(1, 6)),
    "S1",
)
_ORDER = {name: index for index, name in enumerate(VERTEBRAE)}
_LEVEL = re.compile(r"^([CTLS]\d{1,2})(?:-([CTLS]\d{1,2}))?$")


def validate_level(value: str) -> None:
    match = _LEVEL.match(value or "")
    if not match or any(part and part not in _ORDER for part in match.groups()):
        raise ValidationError(
            f"'{value}' is not a spinal level: use C1..C7, T1..T12, L1..L5, S1, "
            "alone (L5) or as a span (L4-L5)."
        )
    upper, lower = match.groups()
    if lower and _ORDER[lower] <= _ORDER[upper]:
        raise ValidationError(f"'{value}': the second vertebra must be below the first.")


def vertebrae_of(level: str) -> list[str]:
    """The vertebrae a level covers: `L4-S1` -> [L4, L5, S1]."""
    upper, _, lower = level.partition("-")
    return list(VERTEBRAE[_ORDER[upper] : _ORDER[lower or upper] + 1])
