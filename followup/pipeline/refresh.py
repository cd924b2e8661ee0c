"""Keeping a patient's follow-up up to date after any change that touches it.

A change marks the surgery stale in its own transaction and nudges a task after
commit. The task refreshes the surgery's patient (all of their surgeries: CLINICAL_RULES
§2, "Several surgeries"), then clears the marks. If the nudge is lost (Redis down,
worker killed), the mark stays and the sweep does the work.
"""

import logging
from collections.abc import Iterable
from datetime import datetime
from functools import partial

from django.db import connection, transaction

from followup.celery import app as celery_app
from followup.models import SurgeryPlan
from patients.locks import lock_patients_of
from patients.models import Surgery

from . import alerts_lifecycle, closure, evaluation, matching, recurrence, schedule

log = logging.getLogger(__name__)

CHUNK = 50
# followup.tasks.refresh_surgeries, by the name it is registered, routed and queued under.
REFRESH_TASK = "followup.tasks.refresh_surgeries"


def mark_stale(surgery_ids: Iterable[int | None]) -> None:
    ids = sorted({pk for pk in surgery_ids if pk is not None})
    if not ids:
        return
    with transaction.atomic(savepoint=False):
        lock_patients_of(Surgery.objects.filter(pk__in=ids))
        _mark(ids)
    # A bulk ingest touches hundreds of surgeries: a few tasks, not one each.
    for start in range(0, len(ids), CHUNK):
        transaction.on_commit(partial(nudge, REFRESH_TASK, ids[start : start + CHUNK]))


def _mark(ids: list[int]) -> None:
    """Set the stale mark of these surgeries' plans (a plan row for a surgery that has
    none yet), in one statement. The surgeries are locked in the lock order
    (patients.locks), as a refresh batch locks them: their patients (done), then the
    surgeries by id, then their plans; a surgery deleted meanwhile is skipped."""
    plan, surgery = SurgeryPlan._meta.db_table, Surgery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {plan} (surgery_id, stale_since)"
            f" SELECT id, STATEMENT_TIMESTAMP() FROM {surgery} WHERE id = ANY(%s)"
            " ORDER BY id FOR NO KEY UPDATE"
            " ON CONFLICT (surgery_id) DO UPDATE SET stale_since = EXCLUDED.stale_since",
            [ids],
        )


def nudge(task_name: str, *args) -> None:
    """Send a task by its registered name; if the broker is unreachable, log it: the
    sweep will catch up. By name, because the tasks run this module: the pipeline never
    imports the Celery layer above it (the name is the contract the beat schedule, the
    routes and queued messages already hold).

    Nobody waits for a nudge's result: without `ignore_result`, Celery first subscribes
    to the result on Redis, and retries that for some 20 s inside the request when
    Redis is down.
    """
    try:
        celery_app.send_task(
            task_name, args=args, ignore_result=True, retry=True, retry_policy={"max_retries": 1}
        )
    except Exception:
        log.warning("Could not queue %s%s; the sweep will do it.", task_name, args, exc_info=True)


def refresh(surgery_id: int, now: datetime, *, onto_current: bool = False) -> bool:
    """Plan, match and evaluate one surgery's patient; False when the surgery is gone.
    `onto_current` moves this surgery onto the current protocol and thresholds."""
    return refresh_many([surgery_id], now, onto_current=onto_current) > 0


def refresh_many(surgery_ids: Iterable[int], now: datetime, *, onto_current: bool = False) -> int:
    """Refresh the patients of these surgeries, all of their surgeries together (an exam
    answers every surgery it comes after; findings are judged against the surgery that
    operated their level), in one transaction and a fixed number of queries. Returns how
    many of these surgeries still exist.

    Locks in the documented order: the patients in id order, then their surgeries in id
    order, then the rows the steps touch.
    """
    asked = set(surgery_ids)
    with transaction.atomic():
        lock_patients_of(Surgery.objects.filter(pk__in=asked))
        patient_ids = Surgery.objects.filter(pk__in=asked).values("patient_id")
        surgeries = list(
            Surgery.objects.select_for_update(no_key=True, of=("self",))
            .select_related("clinic", "plan__protocol", "patient")
            .filter(patient_id__in=patient_ids)
            .order_by("pk")
        )
        if not surgeries:
            return 0
        schedule.plan_many(surgeries, now, onto_current=asked if onto_current else ())
        thresholds = evaluation.pinned_thresholds(surgeries)  # pinned (anew) by the plan
        recurrence.detect_many(surgeries, thresholds, now)
        schedule.plan_workups_many(surgeries, now)
        # A follow-up that ended closes what is pending; resumed, it opens it again.
        closure.apply_many(sorted({s.patient_id for s in surgeries}), now)
        matching.rematch_many(surgeries, now)
        evaluation.evaluate_many(surgeries, now, thresholds)
        alerts_lifecycle.reconcile_deadlines([s.patient_id for s in surgeries], now)
        # Every mark is cleared: a writer marks under the same locks (patient, surgery),
        # so one that came after this refresh began is still waiting, and marks after it;
        # a mark set by this refresh itself (a withdrawn event) is done with here.
        SurgeryPlan.objects.filter(
            surgery__in=[s.pk for s in surgeries], stale_since__isnull=False
        ).update(stale_since=None)
        return sum(1 for surgery in surgeries if surgery.pk in asked)
