"""Integrations in the admin: webhook receivers with their delivery log, request logs."""

from django.contrib import admin

from followup.models import WebhookDelivery, WebhookEndpoint
from patients.base.admin.keys import ManagersHoldTheKeys, Shown, confirm_rotation, show_once
from patients.base.admin.scoping import ClinicFilter, ClinicScopedAdmin, ClinicScopedMixin
from patients.models import ApiRequest


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
class WebhookEndpointAdmin(ManagersHoldTheKeys, ClinicScopedAdmin):
    """Staff of the clinic see its receivers and their log; its managers add, change and
    rotate their signing secrets, each new secret shown once (patients/base/admin/keys.py).
    A receiver gets the clinic's alert events: pointing one elsewhere is a manager's call."""

    list_display = ["url", "clinic", "active", "client", "last_event_id", "failing_since",
                    "next_attempt_at"]  # fmt: skip
    list_select_related = ["clinic", "client__clinic"]
    list_filter = ["active", ClinicFilter]
    # Never the secret: it is shown once, on the answer to the POST that made it.
    readonly_fields = ["client", "last_event_id", "failing_since", "next_attempt_at", "created_at"]
    inlines = [DeliveryLogInline]
    actions = ["rotate_secrets"]

    def response_add(self, request, obj, post_url_continue=None):
        shown = [Shown(obj.url, obj.secret, "Verify each delivery's HMAC-SHA256 with it.")]
        return show_once(request, self, "New webhook", shown, f"Signing secret for {obj.url}.")

    @admin.action(description="Rotate the selected webhooks' signing secrets",
                  permissions=["manage"])  # fmt: skip
    def rotate_secrets(self, request, queryset):
        endpoints, left_out = self.managed_only(request, queryset)
        if request.POST.get("post") != "yes":
            title = "Rotate these webhooks' signing secrets"
            return confirm_rotation(request, self, endpoints, "rotate_secrets", title, False)
        shown = [
            Shown(endpoint.url, endpoint.rotate_secret(), f"{endpoint.clinic.slug}")
            for endpoint in endpoints.select_related("clinic").order_by("pk")
        ]
        intro = f"New signing secrets ({len(shown)}); {left_out} webhook(s) left as they were."
        return show_once(request, self, "Rotated signing secrets", shown, intro)


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
