"""A stale mark and a refresh batch lock the same surgeries in the same order, by id.

A refresh batch locks its surgeries in id order (`refresh_many`). An UPDATE locks rows in
the order its scan finds them, which after updates is not id order: a stale mark that
locked that way could hold one surgery and wait for another that a refresh holds while
the refresh waits for the first, and PostgreSQL would abort one of them (a 500 for an
API request).
"""

import threading

import pytest
from django.db import connection, connections, transaction

from followup.pipeline import refresh
from patients.models import Surgery
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

NO_INDEX = "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off"


def in_scan_order(ids: list[int]) -> list[int]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(NO_INDEX)
        cursor.execute("SELECT id FROM patients_surgery WHERE id = ANY(%s)", [ids])
        return [row[0] for row in cursor.fetchall()]


def someone_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


def test_a_stale_mark_and_a_refresh_batch_cannot_deadlock(protocols, clinic_a, monkeypatch):
    monkeypatch.setattr(refresh, "nudge", lambda task, *args: None)  # no worker in this
    patient = factories.patient(clinic_a)
    first, second = factories.surgery(patient), factories.surgery(patient)
    Surgery.objects.filter(pk=first.pk).update(surgeon="Dr Moved")  # its row moves last
    ids = [first.pk, second.pk]
    assert in_scan_order(ids) == [second.pk, first.pk]  # the case that can deadlock

    refresh_holds_first, mark_waits = threading.Event(), threading.Event()
    errors = []

    def refresh_batch() -> None:  # locks in id order, as refresh_many does
        try:
            with transaction.atomic():
                list(Surgery.objects.select_for_update(no_key=True).filter(pk=first.pk))
                refresh_holds_first.set()
                assert mark_waits.wait(10)
                list(Surgery.objects.select_for_update(no_key=True).filter(pk=second.pk))
        except Exception as error:
            errors.append(error)
        finally:
            refresh_holds_first.set()
            connections.close_all()

    def stale_mark() -> None:
        try:
            assert refresh_holds_first.wait(10)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(NO_INDEX)
                refresh.mark_stale(ids)
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refresh_batch), threading.Thread(target=stale_mark)]
    for thread in threads:
        thread.start()
    try:
        assert refresh_holds_first.wait(10)
        for _ in range(200):  # the mark is blocked behind the refresh (at most 10 s)
            if someone_waits_for_a_lock():
                break
            threading.Event().wait(0.05)
        else:
            pytest.fail("the stale mark never waited for the refresh's lock")
    finally:
        mark_waits.set()
        for thread in threads:
            thread.join(30)

    assert errors == []
    assert Surgery.objects.filter(pk__in=ids, plan__stale_since__isnull=False).count() == 2
