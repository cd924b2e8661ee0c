"""Thin tasks: take ids, call the domain, idempotent, acknowledged after the work."""

from celery import shared_task
from django.utils import timezone

from . import mailing, refresh, sweep, webhooks


@shared_task
def ping() -> str:
    """Proves the wiring: a worker that answers has the broker and the code."""
    return "pong"


@shared_task
def refresh_surgeries(surgery_ids: list[int]) -> int:
    """Plan, match and evaluate these surgeries, together in one transaction."""
    return refresh.refresh_many(surgery_ids, timezone.now())


@shared_task
def run_sweep() -> dict:
    result = sweep.run(timezone.now())
    return {"refreshed": result.refreshed, "alerts": result.alerts, "failed": result.failed}


@shared_task
def send_digests() -> dict:
    """Queue the digests that are due (each clinic at its local hour) and send them."""
    now = timezone.now()
    return {"queued": mailing.queue_digests(now), "sent": mailing.deliver(now)}


@shared_task
def notify_urgent() -> dict:
    """E-mail new urgent alerts and escalate the ones nobody acknowledged."""
    now = timezone.now()
    return {"queued": mailing.queue_urgent(now), "sent": mailing.deliver(now)}


@shared_task
def deliver_webhooks() -> int:
    """Alert events to the clinics' receivers, in order, retried with backoff."""
    return webhooks.deliver(timezone.now())
