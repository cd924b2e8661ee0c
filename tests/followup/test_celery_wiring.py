from unittest import mock

from django.conf import settings

from followup.celery import app, queue_name
from followup.pipeline import refresh
from followup.tasks import ping, refresh_surgeries


def test_celery_is_configured_for_at_least_once_delivery():
    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    longest = max(app.conf.task_time_limit, settings.CELERY_TASK_TIME_LIMIT)
    assert app.conf.broker_transport_options["visibility_timeout"] > longest
    assert app.conf.broker_url == settings.REDIS_URL


def test_tasks_are_autodiscovered():
    app.loader.import_default_modules()
    assert "followup.tasks.ping" in app.tasks


def test_beat_schedule_names_registered_tasks():
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks


def test_the_refresh_nudge_names_the_registered_task_and_its_queue():
    """The pipeline sends the refresh by name (it never imports the tasks that run it):
    that name is the task's, and the message goes where the task would send itself."""
    assert refresh_surgeries.name == refresh.REFRESH_TASK
    with mock.patch("kombu.Producer.publish") as publish:
        refresh.nudge(refresh.REFRESH_TASK, [1, 2])
    (_, kwargs), *_ = publish.call_args_list
    assert kwargs["routing_key"] == queue_name("refresh")
    assert kwargs["headers"]["task"] == "followup.tasks.refresh_surgeries"
    assert kwargs["headers"]["argsrepr"] == "([1, 2],)"


def test_a_real_worker_answers_the_health_task(celery_worker_process):
    result = ping.apply_async(queue=celery_worker_process.queue)
    assert result.get(timeout=60) == "pong"
