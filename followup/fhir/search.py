"""Search parameters and keyset pages.

A search with a parameter this server does not know, or a value it cannot read, is
refused (400, the OperationOutcome names the parameter) rather than ignored, since
ignoring it would return more than was asked for. Pages are keyset pages: the `next`
link carries the key of the last row sent (`_cursor`), never an offset, so a row added
or changed while a client pages is never sent twice nor makes another one skipped.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ParseError
from rest_framework.utils.urls import replace_query_param

from patients.models import PatientIdentifier

from . import codes

# Accepted by every search: paging, the format (always JSON here), incremental sync.
COMMON = frozenset({"_count", "_cursor", "_format", "_lastUpdated", "_summary"})
DEFAULT_COUNT = 50
MAX_COUNT = 500
_PATIENT = re.compile(r"^(?:Patient/)?(\d+)$")
# FHIR date and dateTime: a year, a month, a day, or a time (with its offset) on a day.
_DATE = re.compile(
    r"^(?P<prefix>eq|gt|lt|ge|le)?(?P<value>\d{4}(?:-\d{2}(?:-\d{2}"
    r"(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?)?)?)$"
)


def check_params(params, allowed: set[str]) -> None:
    if any("\x00" in text for key, values in params.lists() for text in (key, *values)):
        raise ParseError("A search parameter holds a NUL character.")
    if unknown := sorted(set(params) - COMMON - allowed):
        known = ", ".join(sorted(allowed | COMMON))
        raise ParseError(f"Unknown search parameter {', '.join(unknown)} (known: {known}).")
    if (summary := params.getlist("_summary")) and summary != ["count"]:
        raise ParseError(f"_summary={summary[-1]!r}: only _summary=count is supported.")


def only_count(params) -> bool:
    return params.get("_summary") == "count"


def patient_id(value: str) -> int:
    match = _PATIENT.match(value.strip())
    if match is None:
        raise ParseError(f"patient={value!r}: give the patient's id, as 123 or Patient/123.")
    return int(match[1])


# Tokens


def tokens(params, name: str) -> list[tuple[str | None, str]]:
    """A token parameter's values, OR-ed by commas: (system or None, code). `system|code`
    names the system, `code` alone any system; `|code` (no system) matches nothing here,
    every code of this server having a system."""
    found = []
    for raw in params.getlist(name):
        for item in raw.split(","):
            system, bar, code = item.rpartition("|")
            if not code.strip() or (bar and system.strip() != system):
                raise ParseError(f"{name}={raw!r}: give system|code or code.")
            found.append((system if bar else None, code))
    return found


def with_identifier(patients: QuerySet, token: str) -> QuerySet:
    """FHIR token search: `system|value`, `|value` (no system) or `value` (any system).

    The MRN is found under its clinic's system (`Clinic.mrn_system`, else this service's),
    and any identifier under its own."""
    system, bar, value = token.rpartition("|")
    external = PatientIdentifier.objects.filter(value=value)
    if not bar:
        return patients.filter(Q(mrn=value) | Q(pk__in=external.values("patient_id")))
    in_system = Q(clinic__mrn_system=system)
    if system == codes.MRN_SYSTEM:
        in_system |= Q(clinic__mrn_system="")
    # Every identifier stored here has a system: `|value` matches none.
    return patients.filter(
        (in_system & Q(mrn=value)) | Q(pk__in=external.filter(system=system).values("patient_id"))
    )


# Dates


@dataclass(frozen=True)
class DateBound:
    """One date parameter value: a prefix and the range [start, end) its precision
    covers (`2026-03` is the whole month)."""

    prefix: str
    start: datetime
    end: datetime

    def q(self, field: str) -> Q:
        """The rows whose instant `field` meets the bound (an instant is a point)."""
        match self.prefix:
            case "eq":
                return Q(**{f"{field}__gte": self.start, f"{field}__lt": self.end})
            case "gt":
                return Q(**{f"{field}__gte": self.end})
            case "lt":
                return Q(**{f"{field}__lt": self.start})
            case "ge":
                return Q(**{f"{field}__gte": self.start})
            case _:  # le
                return Q(**{f"{field}__lt": self.end})


def _date_range(text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    if "T" in text:
        moment = parse_datetime(text.replace("Z", "+00:00"))
        if moment is None:
            raise ValueError(text)
        clock = re.split(r"[Z+-]", text.partition("T")[2])[0]
        step = timedelta(seconds=1) if clock.count(":") == 2 else timedelta(minutes=1)
        if "." in clock:
            step = timedelta(microseconds=1)
        return moment, moment + step
    parts = [int(p) for p in text.split("-")]
    year, month, day = [*parts, 1, 1][:3]
    start = date(year, month, day)
    if len(parts) == 3:
        end = start + timedelta(days=1)
    elif len(parts) == 2:
        end = date(year + month // 12, month % 12 + 1, 1)
    else:
        end = date(year + 1, 1, 1)
    return (
        datetime.combine(start, time(), tzinfo=zone),
        datetime.combine(end, time(), tzinfo=zone),
    )


def date_bounds(params, name: str, zone: ZoneInfo) -> list[DateBound]:
    """Every value of a date parameter (repeated: AND). A date without a time is a day of
    `zone` (the clinic's); a time needs its offset, as FHIR requires."""
    bounds = []
    for raw in params.getlist(name):
        match = _DATE.match(raw.strip())
        try:
            if match is None:
                raise ValueError(raw)
            start, end = _date_range(match["value"], zone)
        except ValueError:
            raise ParseError(
                f"{name}={raw!r}: give [eq|gt|lt|ge|le] and a FHIR date or dateTime "
                "(2026, 2026-03, 2026-03-01, 2026-03-01T09:30:00+01:00)."
            ) from None
        bounds.append(DateBound(match["prefix"] or "eq", start, end))
    return bounds


def by_dates(queryset: QuerySet, params, name: str, field: str, zone: ZoneInfo) -> QuerySet:
    for bound in date_bounds(params, name, zone):
        queryset = queryset.filter(bound.q(field))
    return queryset


# Pages


def page_size(params) -> int:
    raw = params.get("_count")
    if raw is None:
        return DEFAULT_COUNT
    if not raw.isdecimal() or int(raw) < 1:
        raise ParseError(f"_count={raw!r}: give a number of entries from 1 to {MAX_COUNT}.")
    return min(int(raw), MAX_COUNT)


def read_cursor(params) -> list | None:
    """The key after which the page starts, as the previous page's `next` link gave it."""
    raw = params.get("_cursor")
    if raw is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if (
        not isinstance(key, list)
        or not key
        or not all(isinstance(k, int | str | None) for k in key)
    ):
        raise ParseError("_cursor: not a cursor of this server; follow the `next` link as given.")
    return key


def next_link(request, key: list | None) -> str | None:
    if key is None:
        return None
    cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
    return replace_query_param(request.build_absolute_uri(), "_cursor", cursor)


def keyset_page(queryset: QuerySet, params) -> tuple[list, list | None]:
    """One page of rows, newest id first, and the key of the next page (None: the last).
    One query (and the queryset's prefetches), whatever the page."""
    size = page_size(params)
    if (cursor := read_cursor(params)) is not None:
        if len(cursor) != 1 or not isinstance(cursor[0], int):
            raise ParseError("_cursor: not a cursor of this search.")
        queryset = queryset.filter(pk__lt=cursor[0])
    rows = list(queryset.order_by("-pk")[: size + 1])
    if len(rows) > size:
        return rows[:size], [rows[size - 1].pk]
    return rows, None
