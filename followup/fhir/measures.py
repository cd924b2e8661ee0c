"""The follow-up capture rates as a FHIR Measure and the MeasureReport its
`$evaluate-measure` answers (docs/fhir.md, "Measure and MeasureReport").

The figures are the outcomes report's capture section (followup/reports/outcomes.py
`capture`), over the whole selection (scope `all`): one MeasureReport group per
checkpoint code, its populations the report's counts, its score the report's capture
rate. A group smaller than the clinic's minimum is suppressed there and carries no count
and no score here. Pure: the view computes the figures and parses nothing else.
"""

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime

from rest_framework.exceptions import ParseError

from ..reports.selection import Filters
from . import codes
from .datatypes import compact, concept, extension, instant

MEASURE_ID = "followup-capture"
MEASURE_URL = f"{codes.BASE}/Measure/{MEASURE_ID}"
MEASURE_VERSION = "1"
# The date the Measure's definition last changed (its `date`).
MEASURE_DATE = "2026-12-02"
EVALUATE_MEASURE = "http://hl7.org/fhir/OperationDefinition/Measure-evaluate-measure"

MEASURE_SCORING = "http://terminology.hl7.org/CodeSystem/measure-scoring"
MEASURE_TYPE = "http://terminology.hl7.org/CodeSystem/measure-type"
MEASURE_POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
IMPROVEMENT = "http://terminology.hl7.org/CodeSystem/measure-improvement-notation"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

# The parameters `$evaluate-measure` takes here (`_format` as everywhere: ignored).
PARAMS = frozenset({"periodStart", "periodEnd", "reportType", "clinic", "_format"})
# R4 names the summary `population`; R4B and R5's MeasureReport.type call it `summary`.
REPORT_TYPES = ("summary", "population")

# code -> (display, what it counts), in the order a group lists them.
POPULATIONS = {
    "initial-population": (
        "Initial Population",
        "Every checkpoint of the clinic's surgeries performed in the period (the surgery's "
        "day on the clinic's calendar, both ends included) and by the report's date: "
        "expected exams, work-ups and PROM time points; milestones are dates, not captures, "
        "and are left out.",
    ),
    "denominator": (
        "Denominator",
        "The initial population except the checkpoints still pending (not met, not waived, "
        "not yet past their overdue time, the due time plus grace): judged or not applicable.",
    ),
    "denominator-exclusion": (
        "Denominator Exclusion",
        "Not applicable: waived by staff (or closed by the end of the patient's "
        "follow-up), or an optional exam not met by its overdue time. A PROM time point "
        "closed unanswered is not excluded: it is missed.",
    ),
    "numerator": (
        "Numerator",
        "Captured: met (by an exam; a PROM time point by the patient's answers) and not "
        "waived, on time or late.",
    ),
}


def _population_code(code: str) -> dict:
    return concept(MEASURE_POPULATION, code, POPULATIONS[code][0])


def measure() -> dict:
    """The Measure: the same for every caller (no clinic's data)."""
    return {
        "resourceType": "Measure",
        "id": MEASURE_ID,
        "url": MEASURE_URL,
        "version": MEASURE_VERSION,
        "name": "FollowupCaptureRate",
        "title": "Follow-up capture rate per checkpoint",
        "status": "active",
        "experimental": False,
        "date": MEASURE_DATE,
        "publisher": "Spine surgery follow-up",
        "description": "The share of a spine surgery's follow-up checkpoints (expected "
        "imaging exams, work-ups and PROM time points) that were captured, per checkpoint, "
        "over the clinic's surgeries of a period: the `capture` section of the outcomes "
        "report (docs/outcomes.md).",
        "subjectCodeableConcept": concept(
            RESOURCE_TYPES,
            "Procedure",
            "Procedure",
            "The surgeries performed in the period; each of their checkpoints is counted.",
        ),
        "type": [concept(MEASURE_TYPE, "process", "Process")],
        "scoring": concept(MEASURE_SCORING, "proportion", "Proportion"),
        "improvementNotation": concept(
            IMPROVEMENT, "increase", "Increased score indicates improvement"
        ),
        "guidance": "Evaluated with `$evaluate-measure` (periodStart and periodEnd: the days "
        "of surgery), for the caller's clinic. The report has one group per checkpoint code "
        f"of the selection (`group.code` in {codes.CHECKPOINT}). Score = numerator / "
        "(denominator - denominator exclusion) = (on time + late) / (on time + late + "
        "missed), a proportion from 0 to 1. A group with fewer judged checkpoints than the "
        "clinic's minimum group size is suppressed: no population counts, and a "
        "measureScore carrying only the data-absent-reason `masked`.",
        "group": [
            {
                "description": "One group per checkpoint code (an exam, a work-up or a PROM "
                f"time point, {codes.CHECKPOINT}), each with these populations.",
                "population": [
                    {
                        "code": _population_code(code),
                        "description": text,
                        "criteria": {"language": "text/plain", "expression": text},
                    }
                    for code, (_, text) in POPULATIONS.items()
                ],
            }
        ],
    }


# --- $evaluate-measure ------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True)
class Evaluation:
    """What `$evaluate-measure` was asked: the period of surgery and, for a caller of
    several clinics, which one."""

    start: date
    end: date
    clinic_id: int | None

    def filters(self) -> Filters:
        return Filters(performed_from=self.start, performed_to=self.end)


def _one(params, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise ParseError(f"{name}: given {len(values)} times; give it once.")
    return values[0].strip() if values else None


def _date(params, name: str, last: bool) -> date:
    """A FHIR date (`2026`, `2026-03`, `2026-03-01`); a year or a month is its first day
    for periodStart and its last for periodEnd."""
    raw = _one(params, name)
    if raw is None:
        raise ParseError(f"{name}: required (a FHIR date, e.g. 2026-03-01).")
    match = _DATE.match(raw)
    try:
        if match is None:
            raise ValueError(raw)
        year, month, day = match[1], match[2], match[3]
        if month is None:
            return date(int(year), 12, 31) if last else date(int(year), 1, 1)
        if day is None:
            end = calendar.monthrange(int(year), int(month))[1]
            return date(int(year), int(month), end if last else 1)
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ParseError(
            f"{name}={raw!r}: give a FHIR date (2026, 2026-03 or 2026-03-01), no time."
        ) from None


def evaluation(params) -> Evaluation:
    """The operation's parameters, checked: an unknown or unreadable one is a 400 naming it."""
    if any("\x00" in text for key, values in params.lists() for text in (key, *values)):
        raise ParseError("A parameter holds a NUL character.")
    if unknown := sorted(set(params) - PARAMS):
        known = ", ".join(sorted(PARAMS))
        raise ParseError(
            f"Unknown parameter {', '.join(unknown)} of $evaluate-measure (known: {known})."
        )
    start = _date(params, "periodStart", last=False)
    end = _date(params, "periodEnd", last=True)
    if end < start:
        raise ParseError(f"periodEnd={end.isoformat()} is before periodStart={start.isoformat()}.")
    report_type = _one(params, "reportType")
    if report_type is not None and report_type not in REPORT_TYPES:
        raise ParseError(
            f"reportType={report_type!r}: only a summary is served (summary, or R4's population)."
        )
    clinic = _one(params, "clinic")
    if clinic is not None and not clinic.isdecimal():
        raise ParseError(f"clinic={clinic!r}: give the id of one of your clinics.")
    return Evaluation(start, end, int(clinic) if clinic is not None else None)


def _population(code: str, count: int) -> dict:
    return {"code": _population_code(code), "count": count}


def _group(row: dict) -> dict:
    code = concept(codes.CHECKPOINT, row["code"], row["label"])
    if row["suppressed"]:
        # Fewer judged than the minimum: no count, and a score that says why it is absent.
        masked = extension(DATA_ABSENT_REASON, valueCode="masked")
        return {"code": code, "measureScore": {"extension": [masked]}}
    captured = row["on_time"] + row["late"]
    excluded = row["not_applicable"]
    denominator = row["judged"] + excluded
    rate = row["capture_rate"]["value"]  # a proportion, 0 to 1 (figures.proportion)
    return compact(
        {
            "code": code,
            "population": [
                _population("initial-population", denominator + row["pending"]),
                _population("denominator", denominator),
                _population("denominator-exclusion", excluded),
                _population("numerator", captured),
            ],
            # None when nothing was judged yet (a minimum of 0): no score.
            "measureScore": {"value": rate} if rate is not None else None,
        }
    )


def measure_report(figures: dict, asked: Evaluation, clinic_name: str, now: datetime) -> dict:
    """The summary MeasureReport of `outcomes.capture`'s figures."""
    groups = [_group(row) for row in figures["capture"] if row["scope"] == "all"]
    return compact(
        {
            "resourceType": "MeasureReport",
            "status": "complete",
            "type": "summary",
            "measure": MEASURE_URL,
            "date": instant(now),
            "reporter": {"display": clinic_name},
            "period": {"start": asked.start.isoformat(), "end": asked.end.isoformat()},
            "improvementNotation": concept(
                IMPROVEMENT, "increase", "Increased score indicates improvement"
            ),
            "group": groups,
        }
    )


def capability_resource() -> dict:
    """The CapabilityStatement's entry for Measure."""
    return {
        "type": "Measure",
        "documentation": f"Measure/{MEASURE_ID}, the follow-up capture rates per checkpoint "
        "(read), evaluated for the caller's clinic by $evaluate-measure.",
        "interaction": [{"code": "read"}],
        "operation": [
            {
                "name": "evaluate-measure",
                "definition": EVALUATE_MEASURE,
                "documentation": f"GET Measure/{MEASURE_ID}/$evaluate-measure?periodStart="
                "..&periodEnd=.. (required: the days of surgery, FHIR dates) [&reportType="
                "summary] [&clinic=<id>, for staff of several clinics]: a summary "
                "MeasureReport, one group per checkpoint; groups smaller than the clinic's "
                "minimum carry no count and a masked score.",
            }
        ],
    }
