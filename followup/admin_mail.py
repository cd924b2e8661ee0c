"""The outbox and the subscriptions in the admin (imported by followup/admin.py)."""

from django.contrib import admin

from .admin_scoping import ClinicFilter, ClinicScopedAdmin
from .models import Email, Subscription


@admin.register(Email)
class EmailAdmin(ClinicScopedAdmin):
    """What was sent, what waits, and why it failed: read only."""

    list_display = [
        "created_at",
        "kind",
        "recipient",
        "status",
        "attempts",
        "sent_at",
        "last_error",
    ]
    list_filter = ["kind", "status", ClinicFilter]
    search_fields = ["=recipient", "key"]
    readonly_fields = [f.name for f in Email._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Subscription)
class SubscriptionAdmin(ClinicScopedAdmin):
    """Each staff member sets their own (managers and superusers see everyone's)."""

    list_display = ["user", "clinic", "digest", "urgent"]
    list_filter = [ClinicFilter]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("user", "clinic")
        if request.user.is_superuser:
            return queryset
        return queryset.filter(user=request.user)

    def get_fields(self, request, obj=None):
        return ["clinic", "digest", "urgent"]

    def has_add_permission(self, request, obj=None) -> bool:
        return bool(super().has_view_permission(request))

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None or obj.user_id == request.user.pk or request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "clinic":
            from patients.models import Clinic

            from .admin_scoping import admin_access

            field.queryset = Clinic.objects.filter(pk__in=admin_access(request).readable)
        return field

    def save_model(self, request, obj, form, change):
        if not change:
            obj.user = request.user
        super().save_model(request, obj, form, change)
