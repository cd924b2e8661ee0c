"""Fixtures of the fault drills: a private Redis the drill may kill, the app and its
workers pointed at it, and workers that are stopped (or killed) by the end of the test."""

import pytest

pytest.register_assert_rewrite("tests.drills.scenario")

from followup.celery import app  # noqa: E402
from tests.followup.conftest import protocols  # noqa: E402, F401 (a fixture the drills use)

from .servers import PrivateRedis, Worker, reset_producers  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: a drill of more than ~15 seconds (deselect with -m 'not slow')"
    )


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def on_private_redis(settings, private_redis):
    """This process (the API under test) uses the private Redis: broker, results, cache."""
    url = private_redis.url
    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = url
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": url, "KEY_PREFIX": "drill"}
    }
    names = ("broker_url", "result_backend", "task_default_queue")
    saved = {name: app.conf[name] for name in names}
    app.conf.broker_url = app.conf.result_backend = url
    reset_producers()
    yield private_redis
    app.conf.update(saved)
    reset_producers()


@pytest.fixture
def workers(on_private_redis):
    """Start workers on the private Redis: `workers.start(**env)`; all stopped at the end."""

    class Workers:
        started: list[Worker] = []

        def start(
            self, queue: str | None = None, kinds=None, concurrency: int = 1, **env: str
        ) -> Worker:
            pool = "prefork" if concurrency > 1 else "solo"
            worker = Worker(on_private_redis.url, queue, kinds, **env).start(pool, concurrency)
            self.started.append(worker)
            app.conf.task_default_queue = worker.queue
            return worker

    pool = Workers()
    pool.started = []
    yield pool
    for worker in pool.started:
        worker.close()
