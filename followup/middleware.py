"""Every request of an integration client is logged: client, endpoint, status, duration.

No bodies, no query strings, no ids in the endpoint: the route pattern is enough to
know what an integration does, and carries no patient data.
"""

import logging
import time

from django.utils import timezone

log = logging.getLogger(__name__)


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
        from patients.models import ApiRequest

        match = getattr(request, "resolver_match", None)
        endpoint = f"/{match.route}" if match and match.route else "(unresolved)"
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
