from django.contrib.admin.apps import AdminConfig


class FollowupAdminConfig(AdminConfig):
    """The admin, with the staff's worklist as its landing page (followup/admin_site.py)."""

    default_site = "followup.admin_site.FollowupAdminSite"
