"""The Observation search: one patient's findings and scores, two tables in one order.

The order is a key no edit can change: the findings, newest id first, then the
assessments, newest id first, each assessment's scores in `observations.SCORES` order.
The `next` cursor holds the key of the last Observation sent from each table
(`["o", finding id, assessment id, score index]`), so every page costs the same two
queries (one per table) and paging sends each Observation once, whatever is added
meanwhile.
"""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Case, IntegerField, Q, Sum, Value, When
from rest_framework.exceptions import ParseError

from imaging.models import Finding
from imaging.vocabulary import FindingCode
from patients.models import Assessment

from . import codes, observations
from .observations import SCORES
from .search import by_dates, page_size, patient_id, read_cursor, tokens

PARAMS = frozenset({"patient", "category", "code", "date"})
CATEGORIES = ("imaging", "survey")  # findings, scores
_LOINC_SCORES = {
    loinc: tuple(name for name in SCORES if codes.SCORE_LOINC[name][0] == loinc)
    for loinc, _ in codes.SCORE_LOINC.values()
}


@dataclass(frozen=True)
class Wanted:
    finding_codes: frozenset[str]
    scores: tuple[str, ...]


def _categories(params) -> set[str]:
    if "category" not in params:
        return set(CATEGORIES)
    return {
        code
        for system, code in tokens(params, "category")
        if system in (None, codes.OBSERVATION_CATEGORY) and code in CATEGORIES
    }


def _wanted(params) -> Wanted:
    categories = _categories(params)
    findings = set(FindingCode.values) if "imaging" in categories else set()
    scores = set(SCORES) if "survey" in categories else set()
    if "code" in params:
        coded_findings, coded_scores = set(), set()
        for system, code in tokens(params, "code"):
            if system in (None, codes.FINDING) and code in FindingCode.values:
                coded_findings.add(code)
            if system in (None, codes.ASSESSMENT) and code in SCORES:
                coded_scores.add(code)
            if system in (None, codes.LOINC):
                coded_scores.update(_LOINC_SCORES.get(code, ()))
        findings &= coded_findings
        scores &= coded_scores
    return Wanted(frozenset(findings), tuple(name for name in SCORES if name in scores))


class ObservationSearch:
    def __init__(self, params, readable: set[int], zone: ZoneInfo):
        if "patient" not in params:
            raise ParseError("An Observation search needs patient=<id>.")
        patient = patient_id(params["patient"])
        self.params = params
        self.wanted = _wanted(params)
        findings = Finding.objects.filter(
            exam__clinic_id__in=readable,
            exam__patient_id=patient,
            code__in=self.wanted.finding_codes,
        ).select_related("exam")
        findings = by_dates(findings, params, "date", "exam__performed_at", zone)
        # A finding changes only with its exam (the exam's serializer rewrites them).
        self.findings = by_dates(findings, params, "_lastUpdated", "exam__updated_at", zone)
        any_score = Q(pk__in=[])
        for name in self.wanted.scores:
            any_score |= Q(**{f"{name}__isnull": False})
        assessments = Assessment.objects.filter(any_score, clinic_id__in=readable, patient=patient)
        assessments = by_dates(assessments, params, "date", "assessed_at", zone)
        self.assessments = by_dates(assessments, params, "_lastUpdated", "updated_at", zone)

    def count(self) -> int:
        found = self.findings.count() if self.wanted.finding_codes else 0
        if self.wanted.scores:
            scored = [
                Case(When(**{f"{name}__isnull": False}, then=Value(1)), default=Value(0))
                for name in self.wanted.scores
            ]
            total = sum(scored[1:], scored[0])
            found += self.assessments.aggregate(n=Sum(total, output_field=IntegerField()))["n"] or 0
        return found

    def page(self) -> tuple[list[dict], list | None]:
        """Two queries, one per table, on every page (one when a table is not searched)."""
        size = page_size(self.params)
        _, f_before, a_before, a_index = _checked(read_cursor(self.params))
        rows = []
        if self.wanted.finding_codes:
            findings = self.findings.order_by("-pk")
            if f_before is not None:
                findings = findings.filter(pk__lt=f_before)
            rows = list(findings[: size + 1])
        more_findings = len(rows) > size
        page = [observations.finding(row) for row in rows[:size]]
        room = size - len(page)
        scores = self._scores(a_before, a_index, room) if self.wanted.scores else []
        page += [resource for _, resource in scores[:room]]
        if more_findings:
            return page, ["o", rows[size - 1].pk, a_before, a_index]
        if len(scores) > room:
            # 0: no finding left (ids start at 1).
            return page, ["o", 0, *scores[room - 1][0]] if room else ["o", 0, a_before, a_index]
        return page, None

    def _scores(self, before: int | None, index: int, room: int) -> list[tuple[list, dict]]:
        """The scores after the key (before, index): the assessment `before`'s scores after
        `index`, then those of older assessments; enough to fill `room` and tell whether
        there are more."""
        rows = self.assessments.order_by("-pk")
        if before is not None:
            rows = rows.filter(pk__lte=before)
        # Each row holds at least one wanted score; the cursor's row may hold no more.
        found = []
        for row in rows[: room + 2]:
            for number, name in enumerate(SCORES):
                if name not in self.wanted.scores or getattr(row, name) is None:
                    continue
                if row.pk == before and number <= index:
                    continue
                found.append(([row.pk, number], observations.score(row, name)))
        return found


def _checked(cursor: list | None) -> list:
    """["o", finding id, assessment id, score index]: the last finding sent (0: none left),
    the last score sent; None where the page starts from the top."""
    if cursor is None:
        return ["o", None, None, -1]
    if not (
        len(cursor) == 4
        and cursor[0] == "o"
        and all(isinstance(k, int) or k is None for k in cursor[1:3])
        and cursor[3] in range(-1, len(SCORES))
    ):
        raise ParseError("_cursor: not a cursor of this search.")
    return cursor
