"""Writers and refreshes take their locks in one order: the patient, then surgeries by id,
then the rest (docs/architecture.md, "Lock order").

The deadlock this guards against was seen in a black-box run: re-posting an exam (same
accession number) locked the exam row, then its stale mark waited for the surgery; a
refresh of that surgery held it and, matching the exam to a checkpoint, waited for the
exam row (the foreign key check of `Checkpoint.satisfied_by`). PostgreSQL aborted one
of them. With the patient locked first by both, the second simply waits its turn.
"""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from followup.models import Checkpoint, SurgeryPlan
from followup.pipeline import refresh, schedule
from imaging.models import ImagingExam
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def someone_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


def wait_until_someone_waits() -> None:
    for _ in range(200):  # at most 10 s
        if someone_waits_for_a_lock():
            return
        threading.Event().wait(0.05)
    pytest.fail("the second transaction never waited for the first one's lock")


@pytest.fixture
def no_nudges(monkeypatch):
    monkeypatch.setattr(refresh, "nudge", lambda task, *args: None)  # no worker in this


def test_reposting_an_exam_while_its_surgery_is_refreshed_does_not_deadlock(
    protocols, clinic_a, integration_a, no_nudges, monkeypatch, caplog
):
    patient = factories.patient(clinic_a)
    surgery = factories.surgery(patient, performed_at=timezone.now() - timedelta(days=30))
    refresh.refresh(surgery.pk, timezone.now())  # its checkpoints planned
    exam = factories.exam(
        patient, surgery, modality="XR", performed_at=surgery.performed_at + timedelta(days=10)
    )
    # Not matched yet: the refresh below will point the baseline checkpoint at the exam.
    assert not Checkpoint.objects.filter(satisfied_by=exam).exists()

    refresh_holds_surgery, go_on = threading.Event(), threading.Event()
    plan_many = schedule.plan_many

    def plan_then_wait(surgeries, *args, **kwargs):  # called with the surgeries locked
        refresh_holds_surgery.set()
        assert go_on.wait(10)
        return plan_many(surgeries, *args, **kwargs)

    monkeypatch.setattr(schedule, "plan_many", plan_then_wait)
    errors, responses = [], []

    def worker_refresh() -> None:
        try:
            refresh.refresh_many([surgery.pk], timezone.now())
        except Exception as error:
            errors.append(error)
        finally:
            refresh_holds_surgery.set()
            connections.close_all()

    def repost_exam() -> None:
        try:
            body = {
                "patient": patient.pk,
                "modality": "XR",
                "performed_at": exam.performed_at.isoformat(),
                "accession_number": exam.accession_number,
                "report": "Corrected report.",
            }
            responses.append(integration_a.api.post("/api/v1/exams/", body, format="json"))
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    worker, request = threading.Thread(target=worker_refresh), threading.Thread(target=repost_exam)
    worker.start()
    try:
        assert refresh_holds_surgery.wait(10)
        request.start()
        wait_until_someone_waits()  # the request is blocked behind the refresh's locks
    finally:
        go_on.set()
        worker.join(30)
        if request.is_alive() or request.ident is not None:
            request.join(30)

    transient = [r for r in caplog.records if "transient database error" in r.getMessage()]
    assert errors == [] and transient == []
    assert [r.status_code for r in responses] == [200]
    assert ImagingExam.objects.get(pk=exam.pk).report == "Corrected report."
    assert Checkpoint.objects.filter(satisfied_by=exam, surgery=surgery).exists()
    # The request's mark came after the refresh: the surgery is to be refreshed again.
    assert SurgeryPlan.objects.filter(pk=surgery.pk, stale_since__isnull=False).exists()


@pytest.fixture(autouse=True)
def _log_level(caplog):
    caplog.set_level(logging.WARNING)


def patient_is_locked(patient_id: int) -> bool:
    """Whether another connection finds the patient's row locked (NOWAIT)."""
    found = []

    def probe() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                sql = "SELECT id FROM patients_patient WHERE id = %s FOR NO KEY UPDATE NOWAIT"
                cursor.execute(sql, [patient_id])
            found.append(False)
        except OperationalError:
            found.append(True)
        finally:
            connections.close_all()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(10)
    return found == [True]


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda p, e: e.save(), id="save an exam"),
        pytest.param(lambda p, e: ImagingExam.objects.filter(pk=e.pk).delete(), id="delete"),
        pytest.param(lambda p, e: p.surgeries.all().delete(), id="cascade"),
    ],
)
def test_a_write_holds_its_patients_lock_until_the_end(clinic_a, no_nudges, write):
    patient = factories.patient(clinic_a)
    exam = factories.exam(patient, factories.surgery(patient))
    with transaction.atomic():
        assert not patient_is_locked(patient.pk)
        write(patient, exam)
        assert patient_is_locked(patient.pk)
    assert not patient_is_locked(patient.pk)
