"""Protocols, thresholds and the outcomes report's standards in the admin: clinical numbers
that a save always saves as a new version (per clinic, or shared); edited by superusers and
clinic managers only."""

from django import forms
from django.contrib import admin, messages
from django.db import models

from followup.models import (
    CheckpointDefinition,
    Instrument,
    OutcomeStandards,
    Protocol,
    Thresholds,
)
from patients.access import access_of


def manages_a_clinic(request) -> bool:
    return request.user.is_superuser or bool(access_of(request).managed)


class DefinitionInline(admin.TabularInline):
    """Edited with its protocol, by whoever may edit the protocol."""

    model = CheckpointDefinition
    extra = 0

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser or bool(access_of(request).readable)

    def has_add_permission(self, request, obj=None) -> bool:
        return manages_a_clinic(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return manages_a_clinic(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return manages_a_clinic(request)

    # Every number of CLINICAL_RULES §2 and §5 (a work-up's due hours and recommendation
    # too): a field left off here cannot be edited, and its model validation has no field
    # to report on.
    fields = [
        "code", "label", "kind", "opens_day", "due_day", "target_day", "due_hours",
        "grace_days", "modalities", "instruments", "required", "overdue_severity",
        "recommendation", "source",
    ]  # fmt: skip
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 2})}}


class VersionedAdmin(admin.ModelAdmin):
    """Clinical numbers: saving always saves a new version, per clinic or shared.

    Patients already scheduled or evaluated keep what they had; new work gets the
    newest version. Only superusers and clinic managers edit; versions are never deleted.
    """

    readonly_fields = ["version", "created_at", "created_by"]
    save_as = True

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("clinic", "created_by")
        if request.user.is_superuser:
            return queryset
        return queryset.visible_to(access_of(request).readable)

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser or bool(access_of(request).readable)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request) -> bool:
        return manages_a_clinic(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return manages_a_clinic(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # versions are history

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "clinic" and not request.user.is_superuser:
            kwargs["queryset"] = db_field.related_model.objects.filter(
                pk__in=access_of(request).managed
            )
            kwargs["required"] = True
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            # Never edit a version in place: every save is a new version.
            request.POST = request.POST.copy()
            request.POST["_saveasnew"] = "1"
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        obj.as_new_version(by=request.user)
        super().save_model(request, obj, form, change)
        self.message_user(request, f"Saved as version {obj.version}: {self.applies}", messages.INFO)

    # What a new version changes, and what it leaves alone (CLINICAL_RULES §4).
    applies = (
        "new surgeries and events get it from now on; what was already planned keeps its "
        "version until staff re-plan it (Surgeries: 'Re-plan onto the current protocol and "
        "thresholds versions')."
    )


@admin.register(Protocol)
class ProtocolAdmin(VersionedAdmin):
    list_display = ["name", "family", "clinic", "version", "created_at", "created_by"]
    list_filter = ["family", "clinic"]
    fields = ["family", "clinic", "name", "notes", "version", "created_at", "created_by"]
    inlines = [DefinitionInline]


@admin.register(Thresholds)
class ThresholdsAdmin(VersionedAdmin):
    """A surgery is judged with the version pinned when it was planned, never with a newer
    one behind staff's back."""

    applies = (
        "surgeries planned from now on are judged with it; surgeries already planned keep "
        "the thresholds they were planned with, and their alerts, until staff re-plan them "
        "(Surgeries: 'Re-plan onto the current protocol and thresholds versions')."
    )
    list_display = ["__str__", "clinic", "version", "created_at", "created_by"]
    list_filter = ["clinic"]


@admin.register(OutcomeStandards)
class OutcomeStandardsAdmin(VersionedAdmin):
    """The outcomes report's numbers (docs/outcomes.md): the smallest group shown, the
    minimal clinically important differences with their sources, the PROM time points."""

    applies = "the outcomes report reads the newest version from now on (nothing is pinned)."
    list_display = ["__str__", "clinic", "version", "min_group_size", "created_at", "created_by"]
    list_filter = ["clinic"]


@admin.register(Instrument)
class InstrumentAdmin(VersionedAdmin):
    """PROM questionnaires (docs/proms.md). A licensed instrument's texts are loaded from
    the clinic's file with `manage.py load_instrument`, which checks that only texts
    change; edited here, a version is checked by the scoring rules before it is saved."""

    applies = (
        "invitations sent from now on ask it; answers already given keep the version they "
        "were asked with."
    )
    list_display = ["name", "code", "clinic", "version", "assessment_field", "created_at"]
    list_filter = ["code", "clinic"]
    fields = ["code", "clinic", "name", "assessment_field", "items", "scoring", "licence",
              "notes", "version", "created_at", "created_by"]  # fmt: skip
