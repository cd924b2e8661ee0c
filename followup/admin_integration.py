"""Integrations in the admin: webhook receivers with their delivery log, request logs."""

from django.contrib import admin

from patients.models import ApiRequest

from .admin_scoping import ClinicFilter, ClinicScopedAdmin, ClinicScopedMixin
from .models import WebhookDelivery, WebhookEndpoint


class DeliveryLogInline(ClinicScopedMixin, admin.TabularInline):
    model = WebhookDelivery
    clinic_lookup = "endpoint__clinic"
    fields = ["at", "event_id", "event_type", "alert_id", "attempt", "status_code", "delivered",
              "gave_up", "error", "duration_ms"]  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-at", "-id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ClinicScopedAdmin):
    list_display = ["url", "clinic", "active", "last_event_id", "failing_since", "next_attempt_at"]
    list_filter = ["active", ClinicFilter]
    readonly_fields = ["secret", "last_event_id", "failing_since", "next_attempt_at", "created_at"]
    inlines = [DeliveryLogInline]


@admin.register(ApiRequest)
class ApiRequestAdmin(ClinicScopedAdmin):
    """What each integration did: endpoint and status, never a body."""

    clinic_lookup = "client__clinic"
    list_display = ["at", "client", "method", "endpoint", "status", "duration_ms"]
    list_select_related = ["client__clinic"]  # a client is named with its clinic's slug
    list_filter = ["method", "status"]
    readonly_fields = ["client", "method", "endpoint", "status", "duration_ms", "at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
