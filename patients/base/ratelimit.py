"""Counting what an unauthenticated caller does, per client address: the patient page's
link openings and answers, the SMART token endpoint's assertions.

A counter per address, kind and window in the cache (Redis), created with its expiry and
raised at once. A cache that is down lets the request through (fails open, like the
API's throttle): what these limits guard is also guarded otherwise (unguessable tokens,
signed assertions); the limits are about load and noise.
"""

from django.core.cache import cache
from django.utils import timezone

from .middleware import client_address


def exceeded(request, what: str, limit: int, window: int) -> bool:
    """Whether this request is one more `what` than `limit` from its address in the
    current `window` (seconds)."""
    start = int(timezone.now().timestamp()) // window
    key = f"ratelimit:{what}:{client_address(request)}:{start}"
    try:
        count = 1 if cache.add(key, 1, window) else cache.incr(key)
    except Exception:
        return False
    return count > limit
