"""Drill 1, broker down: with Redis killed, the API and the admin keep working, the work
they need is recorded in the database, and when Redis comes back (empty) the next sweep
does it all, ending exactly where a run without the outage ends.

A private redis-server is killed and restarted; the machine's Redis is never touched.
"""

import socket
import time

import pytest
from django.test import Client

from followup.celery import app
from followup.models import Checkpoint, SurgeryPlan
from followup.tasks import run_sweep
from patients.models import Surgery
from tests import factories
from tests.conftest import make_staff

from . import scenario
from .servers import reset_producers, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# Far above a request's normal time, far below the ~20 s a nudge took when it waited for
# Celery's result subscription (followup/pipeline/refresh.py) or forever on a hung socket.
BOUND = 10  # seconds


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


class Timed:
    """An API client that remembers how long each POST took."""

    def __init__(self, api) -> None:
        self.api, self.took = api, []

    def post(self, *args, **kwargs):
        response, took = timed(lambda: self.api.post(*args, **kwargs))
        self.took.append(took)
        return response


def add_exam_in_admin(clinic, accession: str):
    """A clinician records an exam with a finding through the admin."""
    browser = Client()
    browser.force_login(make_staff(f"staff-{clinic.slug}", clinic))
    assert browser.get("/admin/").status_code == 200
    assert browser.get("/admin/patients/surgery/").status_code == 200
    surgery = Surgery.objects.get(patient__clinic=clinic, patient__mrn="hardware_fracture")
    response = browser.post("/admin/imaging/imagingexam/add/", {
        "patient": surgery.patient_id, "surgery": surgery.pk, "modality": "XR",
        "contrast": "none", "performed_at_0": "2024-03-01", "performed_at_1": "10:00:00",
        "accession_number": accession,
        "findings-TOTAL_FORMS": "1", "findings-INITIAL_FORMS": "0",
        "findings-0-code": "screw_lucency_mm", "findings-0-value": "2.5",
        "findings-0-level": "L4", "findings-0-side": "right",
    })  # fmt: skip
    return response


def wait_for_worker_queue(redis_server, worker) -> None:
    """The worker has (re)connected once its queue's binding is back in Redis."""
    import redis

    client = redis.Redis(port=redis_server.port)
    try:
        wait_for(lambda: client.exists(f"_kombu.binding.{worker.queue}"), 60, "the worker")
    finally:
        client.close()


def test_redis_down_loses_nothing_and_doubles_nothing(protocols, workers, on_private_redis):
    calm, outage = scenario.clinic("calm"), scenario.clinic("outage")
    worker = workers.start()

    # The undisturbed run: Redis up, the worker nudged after each commit.
    for response in scenario.post_through_api(scenario.integration(calm), calm):
        assert response.status_code == 201, response.content
    assert add_exam_in_admin(calm, "admin-1").status_code == 302
    wait_for(lambda: not Surgery.objects.filter(patient__clinic=calm,
                                                plan__stale_since__isnull=False).exists(),
             what="the worker to refresh the calm clinic")  # fmt: skip

    on_private_redis.kill()

    api = Timed(scenario.integration(outage))
    responses = scenario.post_through_api(api, outage)
    assert [r.status_code for r in responses] == [201] * len(responses)
    assert max(api.took) < BOUND, f"a request took {max(api.took):.1f}s"
    print(f"Redis down: {len(api.took)} POSTs, the slowest {max(api.took):.2f}s")  # for the docs
    admin, took = timed(lambda: add_exam_in_admin(outage, "admin-1"))
    assert admin.status_code == 302 and took < BOUND
    health = Client().get("/healthz")
    assert (health.status_code, health.json()["redis"]) == (503, False)
    # The work is recorded: every surgery of the clinic waits, marked stale, for a refresh.
    surgeries = Surgery.objects.filter(patient__clinic=outage)
    assert surgeries.count() == len(scenario.CODES)
    assert not surgeries.filter(plan__stale_since__isnull=True).exists()
    assert not Checkpoint.objects.filter(clinic=outage).exists()

    on_private_redis.start()  # the same port, nothing in it: every message of the outage is gone
    wait_for_worker_queue(on_private_redis, worker)
    run_sweep.apply_async(queue=worker.queue, ignore_result=True)  # what beat sends
    wait_for(lambda: scenario.settled(calm, outage), what="the sweep to catch up")

    scenario.assert_same_state(outage, calm)
    assert scenario.duplicates(outage) == scenario.duplicates(calm) == []
    assert scenario.finding_codes(outage) >= set(scenario.CODES)


def test_a_hung_redis_holds_a_request_a_bounded_time(protocols, settings, on_private_redis):
    """Redis stopped answering without closing (SIGSTOP, a partition): the cache and the
    nudge give up after their socket timeouts, and the request is saved."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)  # accepts connections, never answers
        url = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"
        app.conf.broker_url = app.conf.result_backend = url
        settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}
        reset_producers()
        clinic = scenario.clinic("hung")
        api = scenario.integration(clinic)
        patient_id = factories.patient(clinic).pk
        response, took = timed(
            lambda: api.post("/api/v1/surgeries/", scenario.surgery_body(patient_id),
                             format="json")
        )  # fmt: skip
    assert response.status_code == 201, response.content
    assert took < BOUND, f"the request took {took:.1f}s"
    print(f"Redis hung: the POST took {took:.2f}s")  # for the docs
    assert SurgeryPlan.objects.filter(pk=response.json()["id"], stale_since__isnull=False).exists()
