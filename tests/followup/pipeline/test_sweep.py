"""The sweep raises exactly one alert per overdue checkpoint, however often it runs."""

import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from followup.models import Alert, AlertStatus, Checkpoint
from followup.pipeline import refresh, sweep
from tests import factories
from tests.worker import ROOT, database_url

from ..conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)
BASELINE_OVERDUE = local("Europe/Paris", 2026, 2, 17, 0, 0)  # the end of day 42


def fusions(clinic, count: int, day0=DAY0):
    surgeries = []
    for _ in range(count):
        surgery = factories.surgery(factories.patient(clinic), day0, procedure="tlif")
        refresh.refresh(surgery.pk, day0)
        surgeries.append(surgery)
    return surgeries


def test_nothing_is_raised_before_the_due_time(protocols, paris):
    fusions(paris, 1)
    assert sweep.run(BASELINE_OVERDUE - timedelta(minutes=1)).alerts == 0
    assert not Alert.objects.exists()


def test_an_overdue_baseline_raises_one_high_alert(protocols, paris):
    (surgery,) = fusions(paris, 1)
    sweep.run(BASELINE_OVERDUE)
    alert = Alert.objects.get()
    baseline = surgery.checkpoints.get(code="baseline_film")
    assert (alert.code, alert.severity, alert.checkpoint) == (
        "checkpoint_overdue",
        "high",
        baseline,
    )
    assert alert.patient == surgery.patient
    assert "2026-02-16" in alert.message
    assert surgery.patient.family_name not in alert.message


def test_running_the_sweep_twice_raises_each_alert_once(protocols, paris):
    fusions(paris, 3)
    sweep.run(BASELINE_OVERDUE)
    sweep.run(BASELINE_OVERDUE + timedelta(hours=1))
    assert Alert.objects.count() == 3


def test_the_alert_resolves_itself_when_the_exam_arrives(protocols, paris):
    (surgery,) = fusions(paris, 1)
    sweep.run(BASELINE_OVERDUE)
    late = factories.exam(
        surgery.patient, surgery, performed_at=BASELINE_OVERDUE + timedelta(days=3)
    )
    refresh.refresh(surgery.pk, BASELINE_OVERDUE + timedelta(days=3))

    alert = Alert.objects.get()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_at is not None
    baseline = surgery.checkpoints.get(code="baseline_film")
    assert (baseline.satisfied_by, baseline.late) == (late, True)
    # And it stays resolved: nothing is overdue any more.
    sweep.run(BASELINE_OVERDUE + timedelta(days=4))
    assert Alert.objects.filter(status=AlertStatus.OPEN).count() == 0


def test_the_alert_comes_back_if_the_exam_is_deleted(protocols, paris):
    (surgery,) = fusions(paris, 1)
    exam = factories.exam(surgery.patient, surgery, performed_at=BASELINE_OVERDUE + timedelta(1))
    refresh.refresh(surgery.pk, BASELINE_OVERDUE + timedelta(days=1))
    exam.delete()
    refresh.refresh(surgery.pk, BASELINE_OVERDUE + timedelta(days=2))
    sweep.run(BASELINE_OVERDUE + timedelta(days=2))
    assert Alert.objects.filter(status=AlertStatus.OPEN).count() == 1


def test_the_sweep_catches_up_on_surgeries_whose_nudge_was_lost(protocols, paris):
    surgery = factories.surgery(factories.patient(paris), DAY0, procedure="tlif")
    assert not surgery.checkpoints.exists()  # no worker ran: only the stale mark is there
    result = sweep.run(BASELINE_OVERDUE)
    assert result.refreshed == 1
    assert surgery.checkpoints.exclude(kind="prom").count() == 5
    assert surgery.checkpoints.filter(kind="prom").count() == 5
    assert Alert.objects.count() == 1  # a missed PROM (the baseline's) raises none


def test_one_failing_checkpoint_does_not_stop_the_others(protocols, paris, monkeypatch):
    surgeries = fusions(paris, 3)
    bad = surgeries[1].checkpoints.get(code="baseline_film")
    build = sweep._alert_for

    def fragile(checkpoint):
        if checkpoint.pk == bad.pk:
            raise RuntimeError("broken row")
        return build(checkpoint)

    monkeypatch.setattr(sweep, "_alert_for", fragile)
    result = sweep.run(BASELINE_OVERDUE)

    assert result.failed == [bad.pk]
    assert Alert.objects.count() == 2
    bad.refresh_from_db()
    assert bad.overdue_since is None  # still pending: the next sweep tries again
    monkeypatch.setattr(sweep, "_alert_for", build)
    sweep.run(BASELINE_OVERDUE)
    assert Alert.objects.count() == 3


def test_the_query_count_does_not_grow_with_the_number_of_checkpoints(protocols, paris):
    def queries(now) -> int:
        with CaptureQueriesContext(connection) as captured:
            sweep.run(now)
        return len(captured)

    fusions(paris, 2)
    few = queries(BASELINE_OVERDUE)
    fusions(paris, 40, day0=DAY0 + timedelta(days=1))
    many = queries(BASELINE_OVERDUE + timedelta(days=1))
    assert Alert.objects.count() == 42
    assert many == few


def test_the_periodic_task_is_the_sweep(protocols, paris):
    from followup.tasks import run_sweep

    fusions(paris, 1)
    with time_machine.travel(BASELINE_OVERDUE + timedelta(hours=1), tick=False):
        assert run_sweep.apply().get()["alerts"] == 1


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_in_two_processes_raise_each_alert_once(protocols, paris):
    count = 150
    fusions(paris, count, day0=local("Europe/Paris", 2025, 1, 5, 9, 0))
    env = {"DATABASE_URL": database_url(), "PATH": ""}
    command = [sys.executable, "manage.py", "sweep"]
    runs = [
        subprocess.Popen(command, cwd=ROOT, env={**__import__("os").environ, **env},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err

    # Every overdue checkpoint of every surgery (baseline, bridging, fusion) has one alert.
    overdue = Checkpoint.objects.filter(overdue_since__isnull=False).count()
    assert overdue == 3 * count
    assert Alert.objects.count() == overdue
    assert Alert.objects.values("checkpoint").distinct().count() == overdue
