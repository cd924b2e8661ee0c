"""The load run, short (10 clients for 10 s), so that it cannot rot: gunicorn on loopback
against the test database, mixed reads and writes with Idempotency-Keys and retries.

No timing is asserted: throughput and latency depend on the machine; docs/reliability.md
has the numbers of the full run (50 clients for 60 s). What is asserted is what must hold
on any machine: no 5xx, and the database holds exactly what the clients were told.
"""

import io
import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_short_load_run_answers_no_5xx_and_loses_nothing(on_private_redis, tmp_path):
    report_file = tmp_path / "load.json"

    call_command("loadtest", clients=10, seconds=10, patients=20, json=str(report_file),
                 stdout=io.StringIO())  # fmt: skip

    report = json.loads(report_file.read_text())
    assert report["requests"] > 0
    assert report["server_errors"] == 0 and report["transport_errors"] == 0
    assert report["refused"] == [] and report["replays_wrong"] == 0
    database = report["database"]
    assert database["exams_saved"] > 0 and database["patients_saved"] > 0
    assert database["exams_in_doubt"] == database["patients_in_doubt"] == 0
    assert [name for name, value in database.items() if isinstance(value, list) and value] == []
