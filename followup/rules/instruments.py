"""Questionnaires as data: the shape of an instrument's definition, and its scoring.

An instrument is a list of items, each with answer options (an integer value each) and
texts per language, and a scoring rule. Licensed item texts (the ODI's) are never part
of the project: the shipped definition carries the item codes, option values and the
scoring only, and a clinic loads the texts from a file (`manage.py load_instrument`,
docs/proms.md). Pure: no Django, so the scoring is tested alone.

Scoring methods:
- `single`: the value of the one item (an NRS 0-10);
- `percent_of_max`: the sum of the answered items over the most they could score,
  times 100, rounded half up (the ODI: ten sections of 0-5); `max_missing` items may be
  left unanswered (the ODI's own rule divides by the sections answered);
- `none`: kept with the answers, not scored (a global rating of change).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

SINGLE, PERCENT_OF_MAX, NONE = "single", "percent_of_max", "none"
METHODS = (SINGLE, PERCENT_OF_MAX, NONE)


class InvalidDefinition(ValueError):
    pass


@dataclass(frozen=True)
class Option:
    value: int
    text: Mapping[str, str]


@dataclass(frozen=True)
class Item:
    code: str
    text: Mapping[str, str]
    options: tuple[Option, ...]
    # The meaning of the ends of a numeric scale ("no pain", "worst pain imaginable").
    low: Mapping[str, str]
    high: Mapping[str, str]

    def values(self) -> set[int]:
        return {option.value for option in self.options}

    def has_text(self, language: str) -> bool:
        return bool(self.text.get(language)) and all(o.text.get(language) for o in self.options)


def items_of(raw_items: list) -> tuple[Item, ...]:
    """The items of a definition, checked: codes unique, options with integer values."""
    items, seen = [], set()
    for raw in raw_items:
        code = raw.get("code") if isinstance(raw, Mapping) else None
        if not code or not isinstance(code, str):
            raise InvalidDefinition("Every item needs a code.")
        if code in seen:
            raise InvalidDefinition(f"Item {code}: its code is used twice.")
        seen.add(code)
        options = []
        for option in raw.get("options") or []:
            value = option.get("value") if isinstance(option, Mapping) else None
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidDefinition(f"Item {code}: every option needs an integer value.")
            options.append(Option(value, dict(option.get("text") or {})))
        if len({o.value for o in options}) != len(options) or not options:
            raise InvalidDefinition(f"Item {code}: options need distinct values.")
        items.append(Item(code, dict(raw.get("text") or {}), tuple(options),
                          dict(raw.get("low") or {}), dict(raw.get("high") or {})))  # fmt: skip
    if not items:
        raise InvalidDefinition("An instrument has at least one item.")
    return tuple(items)


def check_scoring(scoring: Mapping, items: tuple[Item, ...]) -> None:
    method = scoring.get("method")
    if method not in METHODS:
        raise InvalidDefinition(f"Scoring method must be one of {', '.join(METHODS)}.")
    if method == SINGLE and len(items) != 1:
        raise InvalidDefinition("A `single` score has exactly one item.")
    if method == PERCENT_OF_MAX and not 0 <= scoring.get("max_missing", 0) < len(items):
        raise InvalidDefinition("`max_missing` must leave at least one item to score.")


def score(items: tuple[Item, ...], scoring: Mapping, answers: Mapping[str, int]) -> int | None:
    """The instrument's score from the answers (item code -> value), or None when it is not
    scored or too many items are unanswered. A value no option has is refused."""
    for item in items:
        if item.code in answers and answers[item.code] not in item.values():
            raise InvalidDefinition(f"Item {item.code}: {answers[item.code]!r} is no option.")
    method = scoring.get("method")
    if method == SINGLE:
        return answers.get(items[0].code)
    if method == PERCENT_OF_MAX:
        answered = [item for item in items if item.code in answers]
        if len(items) - len(answered) > scoring.get("max_missing", 0) or not answered:
            return None
        most = sum(max(item.values()) for item in answered)
        got = sum(answers[item.code] for item in answered)
        return int((Decimal(got * 100) / most).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return None


def with_texts(items: tuple[Item, ...], loaded: list) -> list[dict]:
    """The shipped items with the texts of a clinic's file (`loaded`, items in the same
    format): only texts are taken, and the file must name the same items and option
    values as the shipped scoring, so that a loaded file can never change a score."""
    given = {item.code: item for item in items_of(loaded)}
    if set(given) != {item.code for item in items}:
        raise InvalidDefinition(
            "The file must give every item of the instrument, by code, and no other: "
            + ", ".join(item.code for item in items)
        )
    merged = []
    for item in items:
        text = given[item.code]
        if text.values() != item.values():
            raise InvalidDefinition(
                f"Item {item.code}: the option values must be {sorted(item.values())}."
            )
        option_text = {o.value: o.text for o in text.options}
        merged.append({
            "code": item.code, "text": dict(text.text), "low": dict(text.low),
            "high": dict(text.high),
            "options": [{"value": o.value, "text": dict(option_text[o.value])}
                        for o in item.options],
        })  # fmt: skip
    return merged
