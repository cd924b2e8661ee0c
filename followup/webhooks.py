"""Alert webhooks: every alert event, signed, delivered at least once, in order.

The outbox is the alerts' own history (pghistory's AlertEvent rows, written by a
trigger in the same transaction as the change): nothing is lost between commit and
send. Each endpoint keeps a cursor (`last_event_id`); delivery walks its clinic's
events in order, advances the cursor after each 2xx, and on a failure waits with a
backoff before trying the same event again. After a day of failures an event is
given up (and logged as such) so that one bad event cannot block the rest.

Signature: `X-Followup-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "t.body")>`.
"""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from .models import WebhookDelivery, WebhookEndpoint
from .models.alerts import AlertEvent

log = logging.getLogger(__name__)

BATCH = 50
TIMEOUT = 5  # seconds per request
GIVE_UP_AFTER = timedelta(days=1)
EVENT_TYPES = {"acknowledged": "alert.acknowledged", "resolved": "alert.resolved",
               "snoozed": "alert.snoozed", "open": "alert.updated"}  # fmt: skip


def event_type(event: AlertEvent) -> str:
    if event.pgh_label == "insert":
        return "alert.raised"
    return EVENT_TYPES.get(event.status, "alert.updated")


def payload(event: AlertEvent) -> dict:
    """Ids and codes only: the receiver reads details through the API if it needs them."""
    alert = event.pgh_obj
    return {
        "id": event.pgh_id,
        "type": event_type(event),
        "occurred_at": event.pgh_created_at.isoformat(),
        "alert": {
            "id": alert.pk,
            "patient": alert.patient_id,
            "surgery": alert.surgery_id,
            "exam": alert.exam_id,
            "checkpoint": alert.checkpoint_id,
            "code": alert.code,
            "subject": alert.subject,
            "severity": event.severity,
            "status": event.status,
        },
    }


def sign(secret: str, body: bytes, at: int) -> str:
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def backoff(failures: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(failures - 1, 0), 3600))


def _post(endpoint: WebhookEndpoint, event: AlertEvent) -> tuple[int | None, str, int]:
    body = json.dumps(payload(event), separators=(",", ":")).encode()
    request = urllib.request.Request(endpoint.url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": "followup-webhooks/1",
        "X-Followup-Event": event_type(event),
        "X-Followup-Delivery": str(event.pgh_id),
        "X-Followup-Signature": sign(endpoint.secret, body, int(time.time())),
    })  # fmt: skip
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            code, error = response.status, ""
    except urllib.error.HTTPError as failure:
        code, error = failure.code, f"HTTP {failure.code}"
    except (urllib.error.URLError, OSError) as failure:
        code, error = None, f"{type(failure).__name__}: {failure}"
    return code, error, int((time.monotonic() - started) * 1000)


def deliver(now: datetime | None = None) -> int:
    """Deliver what is due to every active endpoint; returns the number delivered."""
    now = now or timezone.now()
    due = list(
        WebhookEndpoint.objects.filter(active=True)
        .exclude(next_attempt_at__gt=now)
        .values_list("pk", flat=True)
    )
    if not due:
        return 0  # no receiver waiting: do not even take the lock
    settled = settled_event_id()
    return sum(deliver_endpoint(pk, now, settled) for pk in due)


def settled_event_id() -> int:
    """The highest event id no transaction still running can commit an event below.

    Ids are taken at insert time, so a slow transaction may commit an event below one
    already sent, and a cursor past it would skip it for good. A SHARE lock waits for
    the transactions writing events (blocking new ones only meanwhile), then is released.
    """
    table = connection.ops.quote_name(AlertEvent._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
        cursor.execute(f"SELECT coalesce(max(pgh_id), 0) FROM {table}")
        return cursor.fetchone()[0]


def deliver_endpoint(endpoint_id: int, now: datetime, settled: int | None = None) -> int:
    settled = settled_event_id() if settled is None else settled
    # The endpoint's row is locked for the batch: two workers never send the same event,
    # and a worker killed mid-batch rolls back its cursor, so the events go again.
    with transaction.atomic():
        endpoint = (
            WebhookEndpoint.objects.select_for_update(skip_locked=True)
            .filter(pk=endpoint_id, active=True)
            .first()
        )
        if endpoint is None:
            return 0
        events = (
            AlertEvent.objects.filter(
                pgh_id__gt=endpoint.last_event_id,
                pgh_id__lte=settled,
                pgh_obj__clinic_id=endpoint.clinic_id,
            )
            .select_related("pgh_obj")
            .order_by("pgh_id")[:BATCH]
        )
        delivered = 0
        for event in events:
            if event.pgh_obj is None:  # the alert is gone with its patient: nothing to say
                endpoint.last_event_id = event.pgh_id
                continue
            code, error, took = _post(endpoint, event)
            ok = code is not None and 200 <= code < 300
            # Counted for a success too: the log says which attempt got through.
            attempt = 1 + WebhookDelivery.objects.filter(
                endpoint=endpoint, event_id=event.pgh_id, delivered=False
            ).count()  # fmt: skip
            gave_up = not ok and endpoint.failing_since is not None and (
                now - endpoint.failing_since >= GIVE_UP_AFTER
            )  # fmt: skip
            WebhookDelivery.objects.create(
                endpoint=endpoint, event_id=event.pgh_id, alert_id=event.pgh_obj_id,
                event_type=event_type(event), attempt=attempt, status_code=code,
                error=error, delivered=ok, gave_up=gave_up, duration_ms=took, at=now,
            )  # fmt: skip
            if ok or gave_up:
                endpoint.last_event_id = event.pgh_id
                endpoint.failing_since = None
                endpoint.next_attempt_at = None
                delivered += ok
                continue
            endpoint.failing_since = endpoint.failing_since or now
            endpoint.next_attempt_at = now + backoff(attempt)
            log.info("Webhook %s failed on event %s: %s", endpoint.url, event.pgh_id, error)
            break
        endpoint.save(update_fields=["last_event_id", "failing_since", "next_attempt_at"])
    return delivered
