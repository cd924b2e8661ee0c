"""The project package: settings, urls, the Celery app (imported here so that
`@shared_task` binds to it) and the follow-up domain."""

from .celery import app as celery_app

__all__ = ["celery_app"]
