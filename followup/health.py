"""/healthz: can this process reach its database and its broker? Cheap, open, for the
load balancer. /healthz/deep: is the work getting done? For monitoring, behind a token.

The deep check says how long ago the last sweep finished and the last beat heartbeat
got through (each written to Redis by the task itself), and whether each queue has a
worker listening (Celery's `inspect`, a broadcast answered within INSPECT_TIMEOUT). It
tells nothing about patients, only about processes; still, it names the workers and the
queues, so it is for staff (a session) or a monitor holding HEALTHZ_TOKEN.
"""

import hmac
import logging
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from .celery import app, queue_names

log = logging.getLogger(__name__)

SWEEP, BEAT = "sweep", "beat"
# Beat sends the sweep every 5 minutes and the heartbeat every minute: older than this,
# something (beat, the urgent worker, Redis) is not working.
STALE_AFTER = {SWEEP: timedelta(minutes=15), BEAT: timedelta(minutes=3)}
INSPECT_TIMEOUT = 1.0  # seconds: a worker answers in milliseconds, or is not there


def _database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _redis() -> bool:
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        return bool(client.ping())
    except redis.RedisError:
        return False


@require_GET
def healthz(request):
    checks = {"database": _database(), "redis": _redis()}
    healthy = all(checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503
    )


# --- Heartbeats ------------------------------------------------------------------------


def _key(name: str) -> str:
    return f"heartbeat:{name}"


def record_heartbeat(name: str, at: datetime | None = None) -> None:
    """Called by the task that beats; a heartbeat not written must not fail its task."""
    try:
        cache.set(_key(name), (at or timezone.now()).isoformat(), timeout=None)
    except Exception:
        log.warning("heartbeat %s not recorded (Redis unavailable)", name)


def last_heartbeat(name: str) -> datetime | None:
    value = cache.get(_key(name))
    return parse_datetime(value) if value else None


def _heartbeats(now: datetime) -> dict:
    beats = {}
    for name, stale_after in STALE_AFTER.items():
        try:
            last = last_heartbeat(name)
        except Exception:
            last = None
        age = (now - last).total_seconds() if last else None
        beats[name] = {
            "last": last.isoformat() if last else None,
            "age_seconds": round(age) if age is not None else None,
            "ok": age is not None and age <= stale_after.total_seconds(),
        }
    return beats


def _workers_by_queue() -> dict[str, bool]:
    wanted = queue_names()
    try:
        answers = app.control.inspect(timeout=INSPECT_TIMEOUT).active_queues() or {}
    except Exception:
        log.warning("workers not inspected (broker unavailable)")
        answers = {}
    listened = {queue["name"] for queues in answers.values() for queue in queues}
    return {name: name in listened for name in wanted.values()}


def _may_see_deep(request) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = settings.HEALTHZ_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


@require_GET
def healthz_deep(request):
    if not _may_see_deep(request):
        return JsonResponse(
            {"detail": "Staff, or a monitor with the HEALTHZ_TOKEN bearer token."}, status=403
        )
    checks = {"database": _database(), "redis": _redis()}
    heartbeats = _heartbeats(timezone.now())
    queues = _workers_by_queue()
    healthy = (
        all(checks.values())
        and all(beat["ok"] for beat in heartbeats.values())
        and all(queues.values())
    )
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **checks, "heartbeats": heartbeats,
         "queues": queues},
        status=200 if healthy else 503,
    )  # fmt: skip
