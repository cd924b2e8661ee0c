"""Every request of an integration client is logged: client, endpoint, status, duration.

No bodies, no query strings, no ids in the endpoint: the route (e.g.
`/api/v1/patients/<pk>/`) is enough to know what an integration did, and carries no
patient data.
"""

import ipaddress
import logging
import re
import time
from urllib.parse import unquote_plus

from django.conf import settings
from django.http import HttpResponseBadRequest, JsonResponse
from django.utils import timezone

from patients.models import ApiRequest

log = logging.getLogger(__name__)


_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
# The anchors of a regular expression route; a `$` inside a route is a character of its
# address (FHIR's operations: `Measure/<id>/$evaluate-measure`).
_ANCHORS = re.compile(r"\^|\$$")


def route_of(request) -> str:
    """The matched route with its parameters named, not filled: `/api/v1/patients/<pk>/`."""
    match = getattr(request, "resolver_match", None)
    if not match or not match.route:
        return "(unresolved)"
    return "/" + _ANCHORS.sub("", _GROUP.sub(r"<\1>", match.route))[:199]


def client_address(request) -> str | None:
    """The client's address as our own proxies saw it (settings.TRUSTED_PROXY_COUNT).

    Each trusted proxy appends the address it was connected from to X-Forwarded-For, so
    the client is the N-th entry from the right; entries further left were written by
    the client and are ignored. Without trusted proxies, or with a value that is not an
    address, REMOTE_ADDR. The admin's login lockout counts failures per this address."""
    remote = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if count <= 0 or not hops:
        return remote
    # Fewer entries than proxies: the request came through fewer of them (an internal
    # check); the leftmost was still written by one of ours.
    candidate = hops[-count] if len(hops) >= count else hops[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


class ApiRequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        client = getattr(getattr(request, "user", None), "client", None)
        if client is not None:
            self._log(request, response, client, started)
        return response

    def _log(self, request, response, client, started) -> None:
        endpoint = route_of(request)
        try:
            ApiRequest.objects.create(
                client=client,
                method=request.method,
                endpoint=endpoint[:200],
                status=response.status_code,
                duration_ms=int((time.monotonic() - started) * 1000),
                at=timezone.now(),
            )
        except Exception:
            # A log that cannot be written must not turn an answer into a 500.
            log.warning("API request log not written", exc_info=True)


class RefuseNulInQueryString:
    """A NUL character (%00) anywhere in the query string: 400 before any view runs.

    PostgreSQL cannot hold or compare a string with one, so the admin's search, its
    filters and its autocomplete answered 500. FHIR checks its own search parameters
    (an OperationOutcome); the API gets this answer in JSON, the rest in plain text."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in unquote_plus(request.META.get("QUERY_STRING", "")):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": NUL_REFUSED}, status=400)
            if not request.path.startswith("/fhir/"):
                return HttpResponseBadRequest(NUL_REFUSED, content_type="text/plain")
        return self.get_response(request)


NUL_REFUSED = "A NUL character (%00) is not allowed in a query string."
