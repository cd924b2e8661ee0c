"""Hospital feeds in the admin, for the clinic's managers: the HL7 sources (which sending
facility is which clinic's) and the message log (each message raw, its summary, status,
error and the records it touched), with a replay action."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from followup.feeds.hl7 import processing
from followup.models import Hl7Message, Hl7Source
from patients.access import access_of
from patients.base.admin.keys import ManagersHoldTheKeys
from patients.base.admin.scoping import ClinicFilter, ClinicScopedAdmin


class ManagersOnly(ManagersHoldTheKeys):
    """Raw messages hold names and reports, and a source decides where data goes: the
    clinic's managers only, for reading too."""

    def has_module_permission(self, request) -> bool:
        return bool(access_of(request).managed)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_manage_permission(request, obj)

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        return rows.filter(**{f"{self.clinic_lookup}__in": access_of(request).managed})


@admin.register(Hl7Source)
class Hl7SourceAdmin(ManagersOnly, ClinicScopedAdmin):
    list_display = ["facility", "name", "clinic", "last_message_at", "created_at"]
    list_select_related = ["clinic"]
    list_filter = [ClinicFilter]
    search_fields = ["=facility", "name"]
    readonly_fields = ["last_message_at", "created_at"]


PATHS = {"patient": "patients/patient", "exam": "imaging/imagingexam",
         "checkpoint": "followup/checkpoint"}  # fmt: skip


@admin.register(Hl7Message)
class Hl7MessageAdmin(ManagersOnly, ClinicScopedAdmin):
    clinic_lookup = "source__clinic"
    list_display = ["received_at", "source", "message_type", "control_id", "status", "ack_code",
                    "attempts"]  # fmt: skip
    list_select_related = ["source"]
    list_filter = ["status", "message_type", "source"]
    search_fields = ["=control_id"]
    date_hierarchy = "received_at"
    fields = ["source", "facility", "control_id", "message_type", "version", "status",
              "ack_code", "error", "summary_text", "touched_records", "raw_text",
              "received_at", "processed_at", "attempts"]  # fmt: skip
    readonly_fields = fields
    actions = ["replay"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a message is what was received; replay is the only action

    def has_replay_permission(self, request, obj=None) -> bool:
        return self.has_manage_permission(request, obj)

    @admin.display(description="Summary")
    def summary_text(self, obj: Hl7Message) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.summary, indent=2, sort_keys=True))

    @admin.display(description="Raw message")
    def raw_text(self, obj: Hl7Message) -> str:
        return format_html("<pre>{}</pre>", obj.raw.replace("\r", "\n"))

    @admin.display(description="Records touched")
    def touched_records(self, obj: Hl7Message) -> str:
        links = [(f"/admin/{PATHS[kind]}/{pk}/change/", f"{kind} {pk}")
                 for kind, ids in obj.touched.items() if kind in PATHS for pk in ids]  # fmt: skip
        return format_html_join(", ", '<a href="{}">{}</a>', links) or "-"

    @admin.action(description="Replay the selected messages", permissions=["replay"])
    def replay(self, request, queryset):
        rows, left_out = self.managed_only(request, queryset.filter(source__isnull=False))
        codes = [processing.replay(row).code for row in rows.order_by("received_at", "pk")]
        self.message_user(
            request,
            f"Replayed {len(codes)} message(s): {codes.count('AA')} AA, {codes.count('AE')} AE, "
            f"{codes.count('AR')} AR; {left_out} left out.",
            messages.SUCCESS if codes.count("AA") == len(codes) else messages.WARNING,
        )
