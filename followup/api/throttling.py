"""Rate limits per integration client: its own rate, counted in Redis, 429 + Retry-After."""

import logging

from rest_framework.throttling import SimpleRateThrottle

from patients.models import ApiClient

log = logging.getLogger(__name__)


class ClientRateThrottle(SimpleRateThrottle):
    scope = "client"

    def allow_request(self, request, view):
        client = request.auth if isinstance(request.auth, ApiClient) else None
        if client is None:
            return True  # staff sessions are people, not integrations
        self.rate = f"{client.rate_limit_per_minute}/min"
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except Exception:
            # Redis down must not take the API down with it: let the request through.
            log.warning("Rate limit not checked: cache unavailable", exc_info=True)
            return True

    def get_rate(self):
        return "600/min"  # replaced per client in allow_request

    def get_cache_key(self, request, view):
        client = request.auth
        # The token hash keeps keys apart across databases that reuse ids (tests, restores).
        return f"throttle:client:{client.pk}:{client.token_hash[:12]}"
