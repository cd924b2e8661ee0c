"""Two copies of one POST at the same moment, each on its own connection: one exam.

Transactional: each thread's request commits for real, so the second one waits on the
unique index of the first (the idempotency key, or the accession number) as in production.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from imaging.models import ImagingExam
from patients.base.api import idempotency
from patients.models import ApiClient
from tests import factories
from tests.api import exam_body

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """Refresh nudges are not sent: other workers may share this Redis."""
    monkeypatch.setattr("followup.pipeline.refresh.nudge", lambda task, *args: None)


@pytest.fixture
def setup(clinic_a):
    _, token = ApiClient.issue(clinic_a, "EHR of A")
    patient = factories.patient(clinic_a)
    factories.surgery(patient, timezone.now() - timedelta(days=90))
    return token, patient


def race(token: str, body: dict, headers: dict, copies: int = 2) -> list:
    """POST `body` from `copies` threads released together; their answers."""
    barrier = threading.Barrier(copies, timeout=10)
    answers: list = [None] * copies

    def send(slot: int) -> None:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            barrier.wait()
            answers[slot] = api.post("/api/v1/exams/", body, format="json", **headers)
        finally:
            connection.close()  # each thread's own connection

    threads = [threading.Thread(target=send, args=(n,)) for n in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(answer is not None for answer in answers)
    return answers


@pytest.mark.parametrize("round_", range(5))
def test_racing_duplicates_with_one_key_create_one_exam_and_share_its_answer(setup, round_):
    token, patient = setup
    accession = f"ACC-RACE-{round_}"

    answers = race(token, exam_body(patient, accession), {"HTTP_IDEMPOTENCY_KEY": accession})

    assert [a.status_code for a in answers] == [201, 201], [a.content for a in answers]
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert answers[0].json() == answers[1].json()
    assert ImagingExam.objects.filter(accession_number=accession).count() == 1
    assert ImagingExam.objects.get().pk == answers[0].json()["id"]


def test_the_duplicate_waits_for_the_first_to_commit_then_replays_it(setup, monkeypatch):
    """The first request holds its transaction open until the second is seen blocked on
    the key's unique index: the overlap is certain, not left to thread timing."""
    token, patient = setup
    seen_waiting = []
    real_finish = idempotency.finish

    def finish_once_a_duplicate_waits(record, response):
        deadline = time.monotonic() + 10
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                if cursor.fetchone()[0]:
                    seen_waiting.append(True)
                    break
                time.sleep(0.01)  # a bounded wait for the other thread, not for the clock
        real_finish(record, response)

    monkeypatch.setattr(idempotency, "finish", finish_once_a_duplicate_waits)

    answers = race(token, exam_body(patient, "ACC-WAIT"), {"HTTP_IDEMPOTENCY_KEY": "wait"})

    assert seen_waiting == [True]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert ImagingExam.objects.filter(accession_number="ACC-WAIT").count() == 1


def test_racing_duplicates_without_a_key_still_create_one_exam(setup):
    """No key: the accession number's unique index decides."""
    token, patient = setup

    answers = race(token, exam_body(patient, "ACC-RACE-NOKEY"), {}, copies=3)

    statuses = sorted(a.status_code for a in answers)
    # Never a second exam, never a 500; a loser may be told to retry (409), or, if it
    # looked before the winner committed and checked after, refused (400).
    assert statuses.count(201) == 1 and max(statuses) < 500, statuses
    assert ImagingExam.objects.filter(accession_number="ACC-RACE-NOKEY").count() == 1
