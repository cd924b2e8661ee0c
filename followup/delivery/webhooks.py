"""The webhook channel of the outbox (outbox.py): every alert event to the clinics'
receivers, signed, in order, each answered with a 2xx once.

The outbox is the alerts' own history (pghistory's AlertEvent rows, written by a
trigger in the same transaction as the change): nothing is lost between commit and
send. What a run claims is the receiver: each endpoint keeps a cursor (`last_event_id`);
delivery walks its clinic's events in order and advances the cursor after each 2xx. A
failure waits with the outbox's backoff (RETRY: per endpoint, doubling); after
WEBHOOK_BREAKER_THRESHOLD failures in a row the circuit is open: one trial after at least
the cool-down. After a day of failures an event is given up (and logged as such) so that
one bad event cannot block the rest.

Nothing waits on the network inside a transaction or under a row lock. A run claims an
endpoint with a conditional UPDATE (`claimed_by`, `claimed_at`), committed; before each
POST it records the event as in flight (`in_flight_event_id`), committed; it posts
outside any transaction (followup/outbound.py: checked address, no redirect, one total
deadline); then it records the answer and moves the cursor in one short transaction,
only if the claim is still its own. A run stops taking deliveries when less than one
request's deadline is left of WEBHOOK_TASK_BUDGET.

The guarantee (docs/reliability.md): an event answered 2xx and recorded is never sent
again, and none is skipped. A run killed while an event is in flight leaves it marked:
the next run (after CLAIM_LEASE) logs that attempt as interrupted and sends the event
again, with the same `X-Followup-Delivery` (the event id) and a higher
`X-Followup-Attempt`. So a receiver sees an event twice only if the run died after its
2xx and before the record (milliseconds); receivers deduplicate on the event id.

Signature: `X-Followup-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "t.body")>`.
"""

import json
import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from followup import outbound
from followup.models import WebhookDelivery, WebhookEndpoint
from followup.models.alerts import AlertEvent

from . import outbox
from .alert_events import settled_event_id

log = logging.getLogger(__name__)

BATCH = outbox.BATCH
GIVE_UP_AFTER = timedelta(days=1)
# Above the longest run (WEBHOOK_TASK_BUDGET, plus one request's deadline): a claim older
# than this belongs to a run that died.
CLAIM_LEASE = timedelta(minutes=2)
CLAIMS = outbox.Claims(WebhookEndpoint, lease=CLAIM_LEASE)
# Doubling from 30 s, at most an hour; at least the breaker's cool-down once the circuit
# is open; an event failing for GIVE_UP_AFTER is given up.
RETRY = outbox.Retry(
    first=timedelta(seconds=30),
    cap=timedelta(hours=1),
    breaker=outbox.Breaker("WEBHOOK_BREAKER_THRESHOLD", "WEBHOOK_BREAKER_COOLDOWN"),
    give_up_after=GIVE_UP_AFTER,
)
INTERRUPTED = "interrupted: the sender stopped before the answer was recorded"
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


def backoff(failures: int) -> timedelta:
    """The wait after `failures` failed attempts in a row (RETRY)."""
    return RETRY.wait(failures)


def circuit_open(endpoint: WebhookEndpoint) -> bool:
    return RETRY.breaker.is_open(endpoint.consecutive_failures)


def _budget(seconds: float | None = None) -> outbox.Budget:
    """One run's time (WEBHOOK_TASK_BUDGET): another delivery while one request's deadline
    (WEBHOOK_TIMEOUT) is left."""
    seconds = settings.WEBHOOK_TASK_BUDGET if seconds is None else seconds
    return outbox.Budget(seconds, reserve=settings.WEBHOOK_TIMEOUT)


def _post(endpoint: WebhookEndpoint, event: AlertEvent, attempt: int) -> outbound.Answer:
    body = json.dumps(payload(event), separators=(",", ":")).encode()
    return outbound.post(endpoint.url, body, {
        "Content-Type": "application/json",
        "User-Agent": "followup-webhooks/1",
        "X-Followup-Event": event_type(event),
        "X-Followup-Delivery": str(event.pgh_id),
        "X-Followup-Attempt": str(attempt),
        "X-Followup-Signature": outbound.sign(endpoint.secret, body, int(time.time())),
    })  # fmt: skip


def deliver(now: datetime | None = None, budget: float | None = None) -> int:
    """Deliver what is due to every active endpoint, within `budget` seconds
    (WEBHOOK_TASK_BUDGET); returns the number delivered."""
    now = now or timezone.now()
    clock = _budget(budget)
    # The endpoint waiting longest since its last run goes first: a run cut by its budget
    # leaves the others to the next one, not to never.
    due = list(
        _claimable(now)
        .order_by(F("claimed_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)
    )
    if not due:
        return 0  # no receiver waiting: do not even take the lock
    settled = settled_event_id()
    delivered = 0
    for pk in due:
        if not clock.allows_one_more():
            break
        delivered += deliver_endpoint(pk, now, settled, clock)
    return delivered


def _claimable(now: datetime):
    return (
        WebhookEndpoint.objects.filter(CLAIMS.unclaimed(timezone.now()), active=True)
        .exclude(next_attempt_at__gt=now)
        .exclude(client__revoked_at__isnull=False)  # also when revoked without the signal
    )


def deliver_endpoint(
    endpoint_id: int,
    now: datetime,
    settled: int | None = None,
    clock: outbox.Budget | None = None,
) -> int:
    """Claim the endpoint, send its next events one by one, release it."""
    settled = settled_event_id() if settled is None else settled
    clock = clock or _budget()
    run = outbox.new_run()
    if not CLAIMS.one(_claimable(now).filter(pk=endpoint_id), run, timezone.now()):
        return 0  # another run has it, or it is not due
    claim = WebhookEndpoint(pk=endpoint_id, claimed_by=run)
    try:
        return _deliver_claimed(WebhookEndpoint.objects.get(pk=endpoint_id), now, settled, clock)
    finally:
        CLAIMS.release(claim)


def _deliver_claimed(
    endpoint: WebhookEndpoint, now: datetime, settled: int, clock: outbox.Budget
) -> int:
    """Its events in order, while the claim is this run's (`CLAIMS.mark`: False once it
    was taken over by another run, this one having outlived CLAIM_LEASE)."""
    if endpoint.in_flight_event_id is not None:
        _record_interrupted(endpoint, now)
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
            if not CLAIMS.mark(endpoint, last_event_id=event.pgh_id):
                break
            continue
        if not clock.allows_one_more():
            break
        # Counted for a success too: the log says which attempt got through.
        attempt = 1 + WebhookDelivery.objects.filter(
            endpoint=endpoint, event_id=event.pgh_id, delivered=False
        ).count()  # fmt: skip
        # Committed before the POST: if this run dies waiting, the next one knows.
        if not CLAIMS.mark(endpoint, in_flight_event_id=event.pgh_id, claimed_at=timezone.now()):
            break  # the claim was taken over (this run outlived CLAIM_LEASE)
        answer = _post(endpoint, event, attempt)
        gave_up = not answer.ok and RETRY.gives_up(endpoint.failing_since, now)
        if not _record(endpoint, event, attempt, answer, gave_up, now):
            break
        delivered += answer.ok
        if not (answer.ok or gave_up):
            log.info("Webhook %s failed on event %s: %s", endpoint.pk, event.pgh_id,
                     answer.reason)  # fmt: skip
            break
    return delivered


def _record(endpoint, event, attempt, answer: outbound.Answer, gave_up, now) -> bool:
    """The answer in the log and on the endpoint, in one short transaction, if the claim is
    still this run's; False when it is not (the log keeps what was seen all the same)."""
    if answer.ok or gave_up:
        endpoint.last_event_id = event.pgh_id
        endpoint.failing_since = endpoint.next_attempt_at = None
        endpoint.consecutive_failures = 0 if answer.ok else endpoint.consecutive_failures + 1
    else:
        endpoint.failing_since = endpoint.failing_since or now
        endpoint.consecutive_failures += 1
        endpoint.next_attempt_at = now + backoff(endpoint.consecutive_failures)
    with transaction.atomic():
        WebhookDelivery.objects.create(
            endpoint=endpoint, event_id=event.pgh_id, alert_id=event.pgh_obj_id,
            event_type=event_type(event), attempt=attempt, status_code=answer.status,
            error=answer.reason, delivered=answer.ok, gave_up=gave_up,
            duration_ms=answer.duration_ms, at=now,
        )  # fmt: skip
        return CLAIMS.mark(
            endpoint,
            in_flight_event_id=None,
            last_event_id=endpoint.last_event_id,
            failing_since=endpoint.failing_since,
            next_attempt_at=endpoint.next_attempt_at,
            consecutive_failures=endpoint.consecutive_failures,
        )


def _record_interrupted(endpoint: WebhookEndpoint, now: datetime) -> None:
    """A run died with this event posted and its answer not recorded: say so in the log;
    the event goes again (the cursor never moved past it)."""
    event = AlertEvent.objects.filter(pgh_id=endpoint.in_flight_event_id).first()
    with transaction.atomic():
        if event is not None and event.pgh_id > endpoint.last_event_id:
            attempt = 1 + WebhookDelivery.objects.filter(
                endpoint=endpoint, event_id=event.pgh_id, delivered=False
            ).count()  # fmt: skip
            WebhookDelivery.objects.create(
                endpoint=endpoint, event_id=event.pgh_id, alert_id=event.pgh_obj_id or 0,
                event_type=event_type(event), attempt=attempt, error=INTERRUPTED, at=now,
            )  # fmt: skip
            log.warning("Webhook %s: event %s was in flight when its run stopped; sent again",
                        endpoint.pk, event.pgh_id)  # fmt: skip
        CLAIMS.mark(endpoint, in_flight_event_id=None)
    endpoint.in_flight_event_id = None
