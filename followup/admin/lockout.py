"""django-axes' lockout records in the admin, with its one action's permission declared
(every action in this admin declares one: tests/security/test_admin_actions_permissions.py).
Axes offers "Clean up expired attempts" to anyone who sees the list."""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin


class DeclaredAccessAttemptAdmin(AccessAttemptAdmin):
    actions = ["cleanup_expired_attempts"]

    @admin.action(description="Clean up expired attempts", permissions=["delete"])
    def cleanup_expired_attempts(self, request, queryset):
        return super().cleanup_expired_attempts(request, queryset)


if admin.site.is_registered(AccessAttempt):  # AXES_ENABLE_ADMIN
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, DeclaredAccessAttemptAdmin)
