"""Search parameters: a search with a parameter this server does not know is refused
(400) rather than ignored, since ignoring it would return more than was asked for."""

import re

from django.db.models import Q, QuerySet
from rest_framework.exceptions import ParseError
from rest_framework.pagination import CursorPagination

from patients.models import PatientIdentifier

from . import codes

# Accepted by every search: paging, and the format (always JSON here).
COMMON = frozenset({"_count", "_cursor", "_format"})
_PATIENT = re.compile(r"^(?:Patient/)?(\d+)$")


class SearchPagination(CursorPagination):
    """Keyset pages on the id: stable while rows are added, no COUNT(*)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "_count"
    max_page_size = 500
    cursor_query_param = "_cursor"


def check_params(params, allowed: set[str]) -> None:
    if any("\x00" in text for key, values in params.lists() for text in (key, *values)):
        raise ParseError("A search parameter holds a NUL character.")
    if unknown := sorted(set(params) - COMMON - allowed):
        known = ", ".join(sorted(allowed | COMMON))
        raise ParseError(f"Unknown search parameter {', '.join(unknown)} (known: {known}).")


def patient_id(value: str) -> int:
    match = _PATIENT.match(value.strip())
    if match is None:
        raise ParseError(f"patient={value!r}: give the patient's id, as 123 or Patient/123.")
    return int(match[1])


def with_identifier(patients: QuerySet, token: str) -> QuerySet:
    """FHIR token search: `system|value`, `|value` (no system) or `value` (any system)."""
    system, bar, value = token.rpartition("|")
    external = PatientIdentifier.objects.filter(value=value)
    if not bar:
        return patients.filter(Q(mrn=value) | Q(pk__in=external.values("patient_id")))
    if system == codes.MRN_SYSTEM:
        return patients.filter(mrn=value)
    # Every identifier stored here has a system: `|value` matches none.
    return patients.filter(pk__in=external.filter(system=system).values("patient_id"))
