"""Rate limits per integration client: its own rate, counted in Redis, 429 + Retry-After.

Each client has a counter per minute, raised with one atomic INCR: concurrent requests
of a client cannot lose a count between a read and a write (as DRF's sliding log
could), and a request costs one round trip to Redis whatever the client's rate (the
log stored every timestamp of the minute and read and wrote them all at each request).
A fixed window lets a client spend its rate at the end of one minute and again at the
start of the next; that burst is the price of counting in O(1).
"""

import logging
import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from patients.models import ApiClient

log = logging.getLogger(__name__)

WINDOW = 60  # seconds: rates are per minute


class ClientRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        client = request.auth if isinstance(request.auth, ApiClient) else None
        if client is None:
            return True  # staff sessions are people, not integrations
        now = time.time()
        start = int(now // WINDOW) * WINDOW
        self.retry_after = start + WINDOW - now
        try:
            count = self._count(client, start)
        except Exception:
            # Redis down must not take the API down with it: let the request through.
            log.warning("Rate limit not checked: cache unavailable", exc_info=True)
            return True
        return count <= client.rate_limit_per_minute

    @staticmethod
    def _count(client: ApiClient, start: int) -> int:
        # The token hash keeps keys apart across databases that reuse ids (tests, restores).
        key = cache.make_key(f"throttle:client:{client.pk}:{client.token_hash[:12]}:{start}")
        # The cache's own Redis client (its URL, timeouts and pool); one round trip: the
        # counter is created with its expiry if new, then incremented.
        redis = cache._cache.get_client(key, write=True)
        pipeline = redis.pipeline(transaction=False)
        pipeline.set(key, 0, ex=WINDOW * 2, nx=True)
        pipeline.incr(key)
        return pipeline.execute()[1]

    def wait(self):
        return self.retry_after
