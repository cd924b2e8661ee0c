"""JSON bodies that the database can store: a hostile body is a 400, never a 500.

Refused here, once for every endpoint (and /fhir/r4/): nesting deeper than MAX_DEPTH
(Python's decoder would hit its recursion limit, and no record of ours nests more
than a few levels), and strings holding a NUL character or a lone surrogate, which
PostgreSQL cannot store nor UTF-8 encode, wherever they are (keys included). Form
bodies get the same check on their fields.
"""

import re

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 32
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_storable(data) -> None:
    """Raise ParseError for too deep a nesting or an unstorable string (no recursion)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                raise ParseError("JSON parse error - a string holds a NUL or a lone surrogate.")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.")
        items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        for key, item in items:
            pending += [(key, depth), (item, depth + 1)]


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.") from None
        check_storable(data)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        check_storable(dict(data.lists()))
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        check_storable(dict(parsed.data.lists()))
        return parsed
