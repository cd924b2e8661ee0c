"""Drill 4, database restart under load: a private PostgreSQL, migrated, serving gunicorn
(and a worker) while a few clients post exams; `pg_ctl restart -m fast` mid-run. Requests
in flight fail cleanly or succeed whole, the service reconnects by itself, and no exam is
half-written: every exam the clients were told was saved is there with all its findings.

The load comes from `manage.py loadtest` (followup/ops/loadtest.py), run
in a process of its own against the private database; the machine's PostgreSQL is never
restarted.
"""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import psycopg
import pytest

from tests.worker import ROOT

from .servers import PrivatePostgres, Worker, wait_for

pytestmark = pytest.mark.slow

WITHOUT_FINDINGS = (
    "SELECT count(*) FROM imaging_imagingexam e"
    " WHERE NOT EXISTS (SELECT 1 FROM imaging_finding f WHERE f.exam_id = e.id)"
)


@pytest.fixture
def private_postgres():
    server = PrivatePostgres()
    server.start()
    yield server
    server.stop()


def count(server: PrivatePostgres, sql: str, *params) -> int:
    try:
        with psycopg.connect(host=str(server.socket_dir), user="postgres", dbname="followup",
                             connect_timeout=2) as conn:  # fmt: skip
            return conn.execute(sql, params).fetchone()[0]
    except psycopg.OperationalError:
        return -1  # restarting


def manage(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, timeout=timeout,
                          capture_output=True, text=True)  # fmt: skip


def test_a_database_restart_under_load_loses_and_half_writes_nothing(
    private_postgres, private_redis, tmp_path
):
    url = private_postgres.create_database("followup")
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": private_redis.url}
    migrated = manage(env, "migrate", "--noinput", "-v0")
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    # The default family of queues: the loadtest's processes send there.
    worker = Worker(private_redis.url, queue="followup", DATABASE_URL=url).start()
    report_file, log = tmp_path / "load.json", tmp_path / "load.log"
    load = None
    try:
        with log.open("w") as output:
            load = subprocess.Popen(
                [sys.executable, "manage.py", "loadtest", "--clients", "6", "--seconds", "12",
                 "--patients", "20", "--json", str(report_file), "--allow-5xx"],
                cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip

        def started() -> bool:
            if load.poll() is not None:
                raise AssertionError(f"the load run ended early: {log.read_text()[-3000:]}")
            return count(private_postgres, "SELECT count(*) FROM imaging_imagingexam") >= 30

        wait_for(started, 60, "the first exams")
        restarted_at = datetime.now(UTC)
        private_postgres.restart()
        load.wait(180)
        assert report_file.exists(), log.read_text()[-3000:]
        report = json.loads(report_file.read_text())

        # Nothing lost, nothing half-written, nothing saved twice (the retries carried the
        # same Idempotency-Key), and gunicorn answered again after the restart by itself.
        database = report["database"]
        assert [name for name, value in database.items() if isinstance(value, list) and value] == []
        assert database["exams_saved"] > 30
        assert report["refused"] == [] and report["replays_wrong"] == 0
        if report["last_failure_at"] is not None:
            assert report["answered_after_last_failure"] > 0
        assert count(private_postgres, WITHOUT_FINDINGS) == 0  # each exam posted had some
        # The worker reconnected too: whatever was marked after the restart it refreshed;
        # what a task in flight at the restart left, the next sweep does.
        wait_for(lambda: count(private_postgres, "SELECT count(*) FROM followup_surgeryplan WHERE"
                               " stale_since > %s", restarted_at) == 0,
                 60, "the worker to refresh after the restart")  # fmt: skip
        swept = manage(env, "sweep")
        assert swept.returncode == 0, swept.stderr[-2000:]
        stale = "SELECT count(*) FROM followup_surgeryplan WHERE stale_since IS NOT NULL"
        assert count(private_postgres, stale) == 0
    finally:
        if load is not None and load.poll() is None:
            load.terminate()  # it stops its gunicorn on SIGTERM
            load.wait(60)
        worker.close()
