"""The Celery application: Redis as broker, tasks found in every installed app, and one
queue per kind of work, so that one kind cannot starve another.

A receiver that trickles bytes holds a delivery for minutes; if urgent notices waited
behind it in the same queue, they would expire unsent. So:

- `<base>.urgent`: the sweep, urgent notices and escalations, the beat's heartbeat;
- `<base>.refresh`: planning, matching and evaluating after a change (the nudges);
- `<base>.delivery`: digests, webhooks, FHIR subscriptions, questionnaire invitations and
  the nightly PACS reconciliation, whose time is spent waiting on others;
- `<base>`: anything not routed (the `ping` of the wiring test).

`<base>` is `task_default_queue` (CELERY_TASK_DEFAULT_QUEUE, `followup`): the whole family
follows it, read when a message is sent, so that a test's worker gets a family of its own
by changing that one name (tests/worker.py). Each queue has its own worker in the
Procfile and docker-compose.yml (tests/test_deployment_files.py checks they agree).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "followup.settings")

app = Celery("followup")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

URGENT, REFRESH, DELIVERY = "urgent", "refresh", "delivery"
KINDS = (URGENT, REFRESH, DELIVERY)
ROUTES = {
    "followup.tasks.run_sweep": URGENT,
    "followup.tasks.notify_urgent": URGENT,
    "followup.tasks.beat_tick": URGENT,
    "followup.tasks.refresh_surgeries": REFRESH,
    "followup.tasks.send_digests": DELIVERY,
    "followup.tasks.deliver_webhooks": DELIVERY,
    "followup.tasks.deliver_fhir_subscriptions": DELIVERY,
    "followup.tasks.send_prom_invitations": DELIVERY,
    "followup.tasks.pacs_sync": DELIVERY,  # waits on the PACS, like a receiver
    "followup.tasks.refresh_jwks": DELIVERY,  # waits on the parties' servers, likewise
}


def queue_name(kind: str, base: str | None = None) -> str:
    return f"{base or app.conf.task_default_queue}.{kind}"


def queue_names(base: str | None = None) -> dict[str, str]:
    """Every queue of the family, by kind ("default": the unrouted tasks')."""
    base = base or app.conf.task_default_queue
    return {"default": base, **{kind: queue_name(kind, base) for kind in KINDS}}


def route_task(name, args, kwargs, options, task=None, **kw) -> dict | None:
    """CELERY_TASK_ROUTES: a task's kind decides its queue; an explicit `queue=` wins."""
    kind = ROUTES.get(name)
    return {"queue": queue_name(kind)} if kind else None
