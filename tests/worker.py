"""A real Celery worker process, on the real Redis, against the test database."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

from followup.celery import app, queue_names
from followup.ops.serving import database_url

ROOT = Path(__file__).resolve().parent.parent


class Worker:
    def __init__(self) -> None:
        # A family of queues of our own (followup/celery.py: `<queue>.urgent`, ...), so
        # that no other worker on the same Redis takes our tasks; the worker listens to
        # all of them, as the Procfile's three workers do together.
        self.queue = f"test-{uuid.uuid4().hex[:8]}"
        self.queues = list(queue_names(self.queue).values())
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "followup", "worker", "--pool", "solo",
             "--queues", ",".join(self.queues), "--without-mingle", "--without-gossip",
             "--loglevel", "INFO"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        app.conf.task_default_queue = self.queue

    def drain(self, timeout: float = 60) -> None:
        """Returns once the worker has done everything queued before: a `ping` through each
        of its queues comes back after the messages ahead of it (one worker, one task at a
        time). A test's teardown waits for it, so that no refresh still holds rows while
        the database is emptied (a TRUNCATE then deadlocks with it)."""
        from followup.tasks import ping

        for queue in self.queues:
            ping.apply_async(queue=queue).get(timeout=timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
