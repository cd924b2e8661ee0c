"""The FHIR Subscriptions channel of the outbox (outbox.py): each API client's topic-based
subscriptions (R4 Subscriptions Backport IG, rest-hook) get a handshake, heartbeats when
idle, and one event notification per alert event of their topic, in order, once each.

The outbox is the alerts' own history, as for the webhooks: each subscription keeps a
cursor (`last_event_id`) over its clinic's AlertEvent rows and the count of the event
notifications it was sent (`events_since_start`, the last one's `eventNumber`). Topics:

- `alert`: every event of an alert (raised, acknowledged, snoozed, resolved, changed);
- `checkpoint-overdue`: the insert of an overdue alert (checkpoint or work-up), which the
  sweep writes in the same transaction as it marks the checkpoint overdue: one event per
  checkpoint that became overdue.

A run claims a subscription (a conditional UPDATE, committed; `Claims.one`), then sends,
outside any transaction and under no lock, through followup/outbound.py with the webhooks'
signature: the handshake while none was answered 2xx (`requested`, or `error` after a
failed one), then its next events, then a heartbeat if it sent nothing for its period.
Each answer is recorded in one short UPDATE, only while the claim is the run's. A failure
sets the status `error` and waits (RETRY: doubling from 30 s up to an hour, at least the
breaker's cool-down once open); the next success sets it `active` again. An event is never
given up: the cursor stays on it, so nothing is lost; a receiver that is gone for good is
turned off by its client (DELETE).

The guarantee is the webhooks' (docs/reliability.md): an event notification answered 2xx
and recorded is never sent again and none is skipped; a run killed with one in flight
(`in_flight_event_id`) leaves it to the next run, which sends it again with the same
`eventNumber`, on which a receiver deduplicates.

How a notification is written (the Bundle) is FHIR's business, above this layer: the
caller passes `compose` (followup/fhir/notifications.py, by the task).
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from followup import outbound
from followup.models import FhirSubscription, FhirSubscriptionStatus, FhirTopic
from followup.models.alerts import DEADLINE_CODES, AlertEvent

from . import outbox
from .alert_events import settled_event_id

log = logging.getLogger(__name__)

BATCH = outbox.BATCH
# Above the longest run (WEBHOOK_TASK_BUDGET, plus one request's deadline).
CLAIM_LEASE = timedelta(minutes=2)
CLAIMS = outbox.Claims(FhirSubscription, lease=CLAIM_LEASE)
RETRY = outbox.Retry(
    first=timedelta(seconds=30),
    cap=timedelta(hours=1),
    breaker=outbox.Breaker("WEBHOOK_BREAKER_THRESHOLD", "WEBHOOK_BREAKER_COOLDOWN"),
)
HANDSHAKE, HEARTBEAT, EVENT = "handshake", "heartbeat", "event-notification"


@dataclass(frozen=True)
class Notice:
    """One notification to write: its type, the count of event notifications before it
    (this one included, for an event), and for an event the alert event (with its alert)
    and its number."""

    subscription: FhirSubscription
    type: str
    events_since_start: int
    event: AlertEvent | None = None

    @property
    def event_number(self) -> int | None:
        return self.events_since_start if self.type == EVENT else None


# Writes a notice as the body to post (application/fhir+json), at `now`.
Compose = Callable[[Notice, datetime], bytes]


def topic_events(subscription: FhirSubscription):
    """The alert events of this subscription's clinic, topic and filter, in any order."""
    events = AlertEvent.objects.filter(pgh_obj__clinic_id=subscription.clinic_id)
    if subscription.topic == FhirTopic.CHECKPOINT_OVERDUE:
        events = events.filter(pgh_label="insert", pgh_obj__code__in=DEADLINE_CODES)
    if subscription.patient_id is not None:
        events = events.filter(pgh_obj__patient_id=subscription.patient_id)
    return events


def deliver(compose: Compose, now: datetime | None = None, budget: float | None = None) -> int:
    """Send what is due to every live subscription within `budget` seconds
    (WEBHOOK_TASK_BUDGET); returns the number of notifications accepted."""
    now = now or timezone.now()
    seconds = settings.WEBHOOK_TASK_BUDGET if budget is None else budget
    clock = outbox.Budget(seconds, reserve=settings.WEBHOOK_TIMEOUT)
    due = list(
        _claimable(now)
        .order_by(F("claimed_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)
    )
    if not due:
        return 0
    settled = settled_event_id()
    sent = 0
    for pk in due:
        if not clock.allows_one_more():
            break
        sent += deliver_one(pk, compose, now, settled, clock)
    return sent


def _claimable(now: datetime):
    return (
        FhirSubscription.objects.filter(CLAIMS.unclaimed(timezone.now()))
        .exclude(status=FhirSubscriptionStatus.OFF)
        .exclude(next_attempt_at__gt=now)
        .exclude(client__revoked_at__isnull=False)
    )


def deliver_one(
    pk: int, compose: Compose, now: datetime, settled: int, clock: outbox.Budget
) -> int:
    """Claim one subscription, send what it is owed, release it."""
    run = outbox.new_run()
    if not CLAIMS.one(_claimable(now).filter(pk=pk), run, timezone.now()):
        return 0  # another run has it, or it is not due
    try:
        subscription = FhirSubscription.objects.get(pk=pk)
        return _deliver_claimed(subscription, compose, now, settled, clock)
    finally:
        CLAIMS.release(FhirSubscription(pk=pk, claimed_by=run))


def _deliver_claimed(sub, compose: Compose, now, settled: int, clock) -> int:
    if sub.in_flight_event_id is not None:
        log.warning("FHIR subscription %s: event %s was in flight when its run stopped; "
                    "sent again", sub.pk, sub.in_flight_event_id)  # fmt: skip
        CLAIMS.mark(sub, in_flight_event_id=None)
    if sub.handshake_at is None:
        return int(_send(sub, Notice(sub, HANDSHAKE, sub.events_since_start), compose, now))
    sent = 0
    events = list(
        topic_events(sub)
        .filter(pgh_id__gt=sub.last_event_id, pgh_id__lte=settled)
        .select_related("pgh_obj")
        .order_by("pgh_id")[:BATCH]
    )
    for event in events:
        if not clock.allows_one_more():
            return sent
        # Committed before the POST: if this run dies waiting, the next one knows.
        if not CLAIMS.mark(sub, in_flight_event_id=event.pgh_id, claimed_at=timezone.now()):
            return sent  # the claim was taken over (this run outlived CLAIM_LEASE)
        if not _send(sub, Notice(sub, EVENT, sub.events_since_start + 1, event), compose, now):
            return sent
        sent += 1
    # Nothing more of its topic up to `settled`: the cursor skips the rest at once.
    if (
        len(events) < BATCH
        and sub.last_event_id < settled
        and CLAIMS.mark(sub, last_event_id=settled)
    ):
        sub.last_event_id = settled
    if not sent and _heartbeat_due(sub, now) and clock.allows_one_more():
        sent += _send(sub, Notice(sub, HEARTBEAT, sub.events_since_start), compose, now)
    return sent


def _heartbeat_due(sub: FhirSubscription, now: datetime) -> bool:
    if not sub.heartbeat_period:
        return False
    last = sub.last_sent_at or sub.handshake_at
    return last + timedelta(seconds=sub.heartbeat_period) <= now


def _headers(sub: FhirSubscription, body: bytes, attempt: int) -> dict[str, str]:
    # The client's own headers first (checked at creation: none of ours), then ours.
    own = dict(header.split(":", 1) for header in sub.headers)
    return {name.strip(): value.strip() for name, value in own.items()} | {
        "Content-Type": "application/fhir+json",
        "User-Agent": "followup-fhir-subscriptions/1",
        "X-Followup-Attempt": str(attempt),
        "X-Followup-Signature": outbound.sign(sub.secret, body, int(time.time())),
    }


def _send(sub: FhirSubscription, notice: Notice, compose: Compose, now: datetime) -> bool:
    """Post one notification and record the answer; True when it was accepted (2xx) and
    recorded under this run's claim."""
    body = compose(notice, now)
    answer = outbound.post(sub.endpoint, body, _headers(sub, body, sub.consecutive_failures + 1))
    if answer.ok:
        changes = {
            "status": FhirSubscriptionStatus.ACTIVE,
            "last_sent_at": now,
            "failing_since": None,
            "next_attempt_at": None,
            "consecutive_failures": 0,
            "last_error": "",
        }
        if notice.type == HANDSHAKE:
            changes["handshake_at"] = now
        if notice.type == EVENT:
            changes |= {
                "in_flight_event_id": None,
                "last_event_id": notice.event.pgh_id,
                "events_since_start": notice.events_since_start,
            }
    else:
        failures = sub.consecutive_failures + 1
        changes = {
            "status": FhirSubscriptionStatus.ERROR,
            "failing_since": sub.failing_since or now,
            "next_attempt_at": now + RETRY.wait(failures),
            "consecutive_failures": failures,
            "last_error": f"{notice.type}: {answer.reason}"[:200],
            "in_flight_event_id": None,
        }
        # Ids and a generic reason only: no PHI, nothing of the receiver's network.
        log.info("FHIR subscription %s: %s failed: %s", sub.pk, notice.type, answer.reason)
    # Never turn a subscription back on that its client turned off meanwhile.
    live = CLAIMS.held(sub).exclude(status=FhirSubscriptionStatus.OFF)
    recorded = live.update(**changes) == 1
    for field, value in changes.items():
        setattr(sub, field, value)
    return answer.ok and recorded
