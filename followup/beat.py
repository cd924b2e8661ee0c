"""The beat's schedule (settings.CELERY_BEAT_SCHEDULE): which task runs when, each message
expiring before the next one is due, so that a beat that was down sends no backlog."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    # Often enough to catch a 6-hour emergency work-up within minutes of its deadline.
    "sweep": {
        "task": "followup.tasks.run_sweep",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    # Each clinic gets its digest at its own local hour: checked every 5 minutes.
    "digests": {
        "task": "followup.tasks.send_digests",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    # Urgent alerts reach the staff within minutes; escalations after the clinic's delay.
    "urgent": {
        "task": "followup.tasks.notify_urgent",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    "webhooks": {
        "task": "followup.tasks.deliver_webhooks",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # Studies the PACS has and no association brought (followup/feeds/dicom/reconcile.py).
    "pacs_sync": {
        "task": "followup.tasks.pacs_sync",
        "schedule": crontab(hour=2, minute=30),
        "options": {"expires": 6 * 60 * 60},
    },
    # FHIR subscriptions: notifications, and the heartbeats (periods of a minute or more).
    "fhir-subscriptions": {
        "task": "followup.tasks.deliver_fhir_subscriptions",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # The patients' questionnaires: invitations when a PROM window opens, reminders.
    "prom-invitations": {
        "task": "followup.tasks.send_prom_invitations",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    # The public keys SMART clients and CDS Hooks EHRs publish at a URL (followup/jwks.py).
    "jwks": {
        "task": "followup.tasks.refresh_jwks",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    # Proves beat is alive and its messages get through (/healthz/deep).
    "heartbeat": {
        "task": "followup.tasks.beat_tick",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
}
