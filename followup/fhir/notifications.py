"""The notification Bundles of FHIR Subscriptions (R4 backport): a `history` Bundle whose
first entry is the SubscriptionStatus (a `Parameters` in R4), then, for an event, its
focus (with the resource for `full-resource`, its address only for `id-only`).

`compose` is what followup/delivery/subscriptions.py calls (passed in by the task): the
channel decides what to send and when, this module how it is written.
"""

import copy
import json
import uuid
from datetime import datetime

from django.conf import settings

from patients.models import Surgery

from ..delivery.subscriptions import EVENT, HANDSHAKE, Notice
from ..models import FhirTopic, PayloadContent
from ..models.alerts import AlertEvent
from .bundles import BASE_PATH
from .datatypes import instant
from .followup_resources import care_plan, flag
from .subscriptions import PROFILE_NOTIFICATION, PROFILE_STATUS, TOPICS


def server_base() -> str:
    """The absolute base of this server's FHIR addresses (no request here: SITE_URL)."""
    return f"{settings.SITE_URL}{BASE_PATH}"


def compose(notice: Notice, now: datetime) -> bytes:
    return json.dumps(bundle(notice, now), separators=(",", ":")).encode()


def bundle(notice: Notice, now: datetime) -> dict:
    base = server_base()
    sub = notice.subscription
    entries = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": status(notice, base),
            "request": {"method": "GET", "url": f"Subscription/{sub.pk}/$status"},
            "response": {"status": "200"},
        }
    ]
    if notice.type == EVENT:
        entries += [_entry(base, resource_type, pk, resource) for resource_type, pk, resource
                    in _focus_and_context(notice)]  # fmt: skip
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [PROFILE_NOTIFICATION]},
        "type": "history",
        "timestamp": instant(now),
        "entry": entries,
    }


QUERY_STATUS = "query-status"  # the answer to `$status`, not a notification


def status(notice: Notice, base: str) -> dict:
    """The SubscriptionStatus, as the backport IG's R4 `Parameters`: in a notification, or
    (type `query-status`) as `Subscription/{id}/$status` answers it, with its status now."""
    sub = notice.subscription
    if notice.type == QUERY_STATUS:
        state = sub.status
    else:
        state = "requested" if notice.type == HANDSHAKE else "active"
    parameters = [
        {"name": "subscription", "valueReference": {"reference": f"{base}Subscription/{sub.pk}"}},
        {"name": "topic", "valueCanonical": TOPICS[sub.topic].url},
        {"name": "status", "valueCode": state},
        {"name": "type", "valueCode": notice.type},
        # An integer64 in R5; a string in R4.
        {"name": "events-since-subscription-start", "valueString": str(notice.events_since_start)},
    ]
    if notice.type == EVENT:
        focus, *context = _focus_and_context(notice, with_resources=False)
        parts = [
            {"name": "event-number", "valueString": str(notice.event_number)},
            {"name": "timestamp", "valueInstant": instant(notice.event.pgh_created_at)},
            {"name": "focus", "valueReference": {"reference": f"{base}{focus[0]}/{focus[1]}"}},
        ]
        parts += [
            {"name": "additional-context", "valueReference": {"reference": f"{base}{t}/{pk}"}}
            for t, pk, _ in context
        ]
        parameters.append({"name": "notification-event", "part": parts})
    return {
        "resourceType": "Parameters",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [PROFILE_STATUS]},
        "parameter": parameters,
    }


def _entry(base: str, resource_type: str, pk: int, resource: dict | None) -> dict:
    entry = {
        "fullUrl": f"{base}{resource_type}/{pk}",
        "request": {"method": "PUT", "url": f"{resource_type}/{pk}"},
        "response": {"status": "200"},
    }
    return {**entry, "resource": resource} if resource is not None else entry


def _focus_and_context(notice: Notice, with_resources: bool = True) -> list[tuple]:
    """(type, id, resource or None): the focus first, then the additional context."""
    event = notice.event
    alert = event.pgh_obj
    full = with_resources and notice.subscription.content == PayloadContent.FULL_RESOURCE
    if notice.subscription.topic == FhirTopic.CHECKPOINT_OVERDUE and alert.surgery_id:
        plan = _care_plan(alert.surgery_id, event.pgh_created_at) if full else None
        return [
            ("CarePlan", alert.surgery_id, plan),
            ("Flag", alert.pk, _flag_as_of(event) if full else None),
        ]
    return [("Flag", alert.pk, _flag_as_of(event) if full else None)]


def _flag_as_of(event: AlertEvent) -> dict:
    """The Flag as it was after this event (the event's status and severity), not as it
    is now: notifications of a change sent late still tell that change."""
    alert = copy.copy(event.pgh_obj)
    alert.status, alert.severity = event.status, event.severity
    alert.snoozed_until = event.snoozed_until
    alert.updated_at = event.pgh_created_at
    return flag(alert, event.pgh_created_at)


def _care_plan(surgery_id: int, at: datetime) -> dict | None:
    surgery = Surgery.objects.prefetch_related("checkpoints").filter(pk=surgery_id).first()
    return care_plan(surgery, at) if surgery is not None else None
