"""The follow-up app and the admin it configures (Django loads these first)."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class FollowupConfig(AppConfig):
    name = "followup"
    verbose_name = "Follow-up"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the receivers)


class FollowupAdminConfig(admin_apps.AdminConfig):
    """The admin, with the staff's worklist as its landing page (followup/admin/site.py).
    Here rather than in followup/admin/: Django loads app configs before the models, and
    importing that package registers the model admins."""

    default = False  # INSTALLED_APPS names it; "followup" alone means FollowupConfig
    default_site = "followup.admin.site.FollowupAdminSite"

    def ready(self) -> None:
        super().ready()  # builds the site and imports every app's admin module
        from followup.admin import pages  # noqa: F401  (registers the follow-up's pages)
