"""gunicorn as the Procfile runs it, started on a free loopback port for a measurement
(`manage.py bench`'s reads, `manage.py loadtest`) and stopped after it.

Measuring the API through the server it is deployed with counts what a client waits
for: the HTTP layer, the worker processes sharing the cores, the threads of each
sharing one interpreter. A test client inside the measuring process would count the
measuring process's own interpreter lock instead.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import connection

ROOT = Path(settings.BASE_DIR)
# The Procfile's `web` line (tests/test_deployment_files.py checks they agree).
WORKERS = 2
THREADS = 4
# gunicorn's access log, as in the Procfile, docker-compose.yml and the Dockerfile: the
# path (%(U)s), never the request line (%(r)s) with its query string (?mrn=,
# ?family_name=, FHIR's identifier=, the admin's ?q=), nor the referer (a URL with its
# query too) or the remote user (a name).
ACCESS_LOG_FORMAT = "%(h)s %(t)s %(m)s %(U)s %(H)s %(s)s %(b)s %(M)sms"
START_TIMEOUT = 30  # seconds


def database_url() -> str:
    """The URL of the database this process uses (the test database under pytest)."""
    params = connection.settings_dict
    auth = quote(params["USER"] or "", safe="")
    if params["PASSWORD"]:
        auth += ":" + quote(params["PASSWORD"], safe="")
    port = f":{params['PORT']}" if params["PORT"] else ""
    return f"postgresql://{auth}@{quote(params['HOST'] or '', safe='')}{port}/{params['NAME']}"


class ServerError(Exception):
    """gunicorn did not start; the message says how."""


class Gunicorn:
    """`with Gunicorn() as server: requests.get(server.url + "/healthz")`"""

    def __init__(
        self, workers: int = WORKERS, threads: int = THREADS, access_log: Path | None = None
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL}
        logging = (
            ["--access-logfile", str(access_log), "--access-logformat", ACCESS_LOG_FORMAT]
            if access_log
            else []
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "followup.wsgi:application", "--bind",
             f"127.0.0.1:{self.port}", "--workers", str(workers), "--threads", str(threads),
             *logging],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # stopped with every process it forked
        )  # fmt: skip
        try:
            self._wait_until_it_answers()
        except BaseException:
            self.stop()  # never left running behind the caller
            raise

    def _wait_until_it_answers(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/healthz", timeout=10)  # the first loads the app
                return
            except requests.RequestException:
                if self.process.poll() is not None:
                    raise ServerError("gunicorn exited at start") from None
                time.sleep(0.2)
        raise ServerError(f"gunicorn did not answer in {START_TIMEOUT} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> "Gunicorn":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
