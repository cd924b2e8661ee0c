"""Keeping a surgery's follow-up up to date after any change that touches it.

A change marks the surgery stale in its own transaction and nudges a task after
commit. The task plans and matches, then clears the mark. If the nudge is lost
(Redis down, worker killed), the mark stays and the sweep does the work.
"""

import logging
from collections.abc import Iterable
from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models.functions import Now

from patients.models import Surgery

from . import evaluation, matching, recurrence, schedule
from .models import Thresholds

log = logging.getLogger(__name__)

CHUNK = 50


def mark_stale(surgery_ids: Iterable[int | None]) -> None:
    ids = sorted({pk for pk in surgery_ids if pk is not None})
    if not ids:
        return
    Surgery.objects.filter(pk__in=ids).update(followup_stale_since=Now())
    from .tasks import refresh_surgeries  # the tasks module imports this one

    # A bulk ingest touches hundreds of surgeries: a few tasks, not one each.
    for start in range(0, len(ids), CHUNK):
        transaction.on_commit(partial(nudge, refresh_surgeries, ids[start : start + CHUNK]))


def nudge(task, *args) -> None:
    """Send a task; if the broker is unreachable, log it: the sweep will catch up.

    Nobody waits for a nudge's result: without `ignore_result`, Celery first subscribes
    to the result on Redis, and retries that for some 20 s inside the request when
    Redis is down.
    """
    try:
        task.apply_async(
            args=args, ignore_result=True, retry=True, retry_policy={"max_retries": 1}
        )
    except Exception:
        log.warning("Could not queue %s%s; the sweep will do it.", task.name, args, exc_info=True)


def refresh(surgery_id: int, now: datetime, *, onto_current: bool = False) -> bool:
    """Plan, match and evaluate one surgery; returns False when it no longer exists."""
    with transaction.atomic():
        surgery = (
            Surgery.objects.select_for_update(no_key=True, of=("self",))
            .select_related("clinic", "protocol")
            .filter(pk=surgery_id)
            .first()
        )
        if surgery is None:
            return False
        seen = surgery.followup_stale_since
        schedule.plan(surgery, now, onto_current=onto_current)
        recurrence.detect(surgery, Thresholds.objects.current(surgery.clinic_id))
        schedule.plan_workups(surgery, now)
        matching.rematch(surgery, now)
        evaluation.evaluate(surgery, now)
        # Cleared only if nothing marked it again meanwhile.
        Surgery.objects.filter(pk=surgery_id, followup_stale_since=seen).update(
            followup_stale_since=None
        )
        return True
