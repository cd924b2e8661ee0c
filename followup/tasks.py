"""Thin tasks: take ids, call the domain, idempotent, acknowledged after the work.

Each task's queue is in followup/celery.py (ROUTES). Each has a time budget that fits
its queue: the soft limit raises SoftTimeLimitExceeded inside the task, which stops
where it is (what it sent is recorded row by row, what it claimed and did not reach is
given back); the hard limit kills the process a little later. E-mail tasks stop well
within mailing.CLAIM_TIMEOUT, so that a claim that old belongs to a run that is over.
"""

from celery import shared_task
from django.utils import timezone

from followup.delivery import mailing, subscriptions, webhooks
from followup.feeds.dicom import reconcile
from followup.fhir import notifications
from followup.pipeline import refresh, sweep

from . import health, jwks

MINUTE = 60  # seconds


@shared_task
def ping() -> str:
    """Proves the wiring: a worker that answers has the broker and the code."""
    return "pong"


@shared_task(soft_time_limit=14 * MINUTE, time_limit=15 * MINUTE)
def refresh_surgeries(surgery_ids: list[int]) -> int:
    """Plan, match and evaluate these surgeries, together in one transaction."""
    return refresh.refresh_many(surgery_ids, timezone.now())


# Beat sends it every 5 minutes (expires after 4): done before the next one is due.
@shared_task(soft_time_limit=4 * MINUTE, time_limit=4 * MINUTE + 30)
def run_sweep() -> dict:
    result = sweep.run(timezone.now())
    health.record_heartbeat(health.SWEEP)
    return {"refreshed": result.refreshed, "alerts": result.alerts, "failed": result.failed,
            "feeds_silent": result.feeds_silent, "feeds_heard": result.feeds_heard}  # fmt: skip


@shared_task(soft_time_limit=4 * MINUTE, time_limit=5 * MINUTE)
def send_digests() -> dict:
    """Queue the digests that are due (each clinic at its local hour) and send them."""
    now = timezone.now()
    return {"queued": mailing.queue_digests(now), "sent": mailing.deliver(now, mailing.DIGESTS)}


# Every minute: a slow SMTP server delays the next run, never stacks them.
@shared_task(soft_time_limit=100, time_limit=2 * MINUTE)
def notify_urgent() -> dict:
    """E-mail new urgent alerts and escalate the ones nobody acknowledged; tell the
    managers of a clinic whose hospital feed went silent."""
    now = timezone.now()
    queued = mailing.queue_urgent(now) + mailing.queue_feed_silences(now)
    return {"queued": queued, "sent": mailing.deliver(now, mailing.URGENT)}


@shared_task(soft_time_limit=4 * MINUTE, time_limit=5 * MINUTE)
def send_prom_invitations() -> dict:
    """Invite patients whose questionnaire window opened, remind those who have not
    answered, and send those e-mails."""
    now = timezone.now()
    return {"queued": mailing.queue_proms(now), "sent": mailing.deliver(now, mailing.PROMS)}


# Every minute; webhooks.deliver keeps to WEBHOOK_TASK_BUDGET itself, this is the net.
@shared_task(soft_time_limit=2 * MINUTE, time_limit=2 * MINUTE + 30)
def deliver_webhooks() -> int:
    """Alert events to the clinics' receivers, in order, retried with backoff."""
    return webhooks.deliver(timezone.now())


# Every minute, and after a Subscription is created (its handshake); like the webhooks,
# subscriptions.deliver keeps to WEBHOOK_TASK_BUDGET itself.
@shared_task(soft_time_limit=2 * MINUTE, time_limit=2 * MINUTE + 30)
def deliver_fhir_subscriptions() -> int:
    """Handshakes, heartbeats and alert notifications to the FHIR subscribers, in order."""
    return subscriptions.deliver(notifications.compose, timezone.now())


# Every 5 minutes: the JWK Sets that SMART clients and CDS Hooks EHRs publish at a URL.
@shared_task(soft_time_limit=2 * MINUTE, time_limit=2 * MINUTE + 30)
def refresh_jwks() -> int:
    return jwks.refresh_all()


@shared_task(soft_time_limit=10, time_limit=15)
def beat_tick() -> None:
    """Sent by beat every minute: /healthz/deep tells how long ago one got through."""
    health.record_heartbeat(health.BEAT)


# Nightly. Off (returns None) while PACS_DICOMWEB_URL is unset. A run that fails is
# recorded, and the next one asks again from the same day.
@shared_task(soft_time_limit=55 * MINUTE, time_limit=60 * MINUTE)
def pacs_sync() -> dict | None:
    try:
        record = reconcile.run()
    except (reconcile.NotConfigured, reconcile.AlreadyRunning):
        return None
    return {"status": record.status, "recorded": record.studies_recorded}
