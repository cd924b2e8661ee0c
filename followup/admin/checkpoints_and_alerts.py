"""Checkpoints and alerts in the admin: the scoped lists, the checkpoints inline on a
surgery or a patient, the alert actions (acknowledge, snooze, resolve)."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from followup.models import Alert, AlertStatus, Checkpoint, CheckpointStatus
from followup.models.alerts import SEVERITY_ORDER
from followup.pipeline import alerts_lifecycle
from patients.access import access_of
from patients.base.admin.scoping import ClinicFilter, ClinicScopedAdmin, ClinicScopedMixin


class CheckpointStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("overdue", "Overdue"),
            ("due14", "Due in the next 14 days"),
            *[(s.value, s.label) for s in CheckpointStatus if s != CheckpointStatus.OVERDUE],
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "due14":
            open_ = queryset.with_status((CheckpointStatus.OPEN, CheckpointStatus.UPCOMING), now)
            return open_.filter(due_at__lte=now + timezone.timedelta(days=14)).exclude(
                kind="milestone"
            )
        if self.value():
            return queryset.with_status(self.value(), now)
        return queryset


@admin.register(Checkpoint)
class CheckpointAdmin(ClinicScopedAdmin):
    list_display = [
        "patient",
        "label",
        "kind",
        "opens_at",
        "due_at",
        "status",
        "satisfied_by",
        "late",
        "booked_at",
    ]
    list_select_related = ["patient", "satisfied_by"]
    list_filter = [CheckpointStatusFilter, "kind", "code", ClinicFilter]
    search_fields = ["=patient__mrn"]
    readonly_fields = [
        "clinic", "patient", "surgery", "definition", "code", "label", "kind", "opens_at",
        "due_at", "overdue_at", "modalities", "required", "overdue_severity", "satisfied_by",
        "late", "waived_at", "waived_by", "waived_reason", "overdue_since", "booked_at",
        "booked_order",
    ]  # fmt: skip
    # All read-only: a reason typed here would waive nothing (no waived_at, no audit, no
    # refresh). A checkpoint is waived through waivers.waive (followup/pipeline/waivers.py,
    # the API's waive action).
    fields = readonly_fields
    ordering = ["due_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # checkpoints come from the protocol

    @admin.display(description="status")
    def status(self, obj: Checkpoint) -> str:
        return obj.status_at(timezone.now()).label


class CheckpointInline(ClinicScopedMixin, admin.TabularInline):
    model = Checkpoint
    fields = ["label", "kind", "opens_at", "due_at", "status", "satisfied_by", "late"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("satisfied_by")  # shown on each row

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="status")
    def status(self, obj: Checkpoint) -> str:
        return obj.status_at(timezone.now()).label


class AlertActionForm(forms.ModelForm):
    """Acknowledge, snooze or resolve from the alert's page; the lifecycle checks the rest."""

    action = forms.ChoiceField(
        choices=[("", "---"), ("acknowledge", "Acknowledge"), ("snooze", "Snooze until"),
                 ("resolve", "Resolve (with a note)")],
        required=False,
    )  # fmt: skip
    until = forms.DateTimeField(required=False, help_text="For a snooze.")
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    class Meta:
        model = Alert
        fields = []

    def clean(self):
        cleaned = super().clean()
        action = cleaned.get("action")
        if action == "snooze" and not cleaned.get("until"):
            self.add_error("until", "Say until when.")
        if action == "snooze" and cleaned.get("until") and cleaned["until"] <= timezone.now():
            self.add_error("until", "Must be in the future.")
        if action == "resolve" and not cleaned.get("note"):
            self.add_error("note", "Say why the alert is closed.")
        return cleaned


class AlertStatusFilter(admin.SimpleListFilter):
    """As the status column shows it: a snooze that has run out is open again before the sweep."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return AlertStatus.choices

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.with_status(self.value(), timezone.now())


@admin.register(Alert)
class AlertAdmin(ClinicScopedAdmin):
    """Staff's alert list: most severe first, then oldest first."""

    form = AlertActionForm
    list_display = ["severity", "code", "status_now", "patient_link", "message", "created_at"]
    list_select_related = ["patient"]
    list_filter = ["severity", AlertStatusFilter, "code", ClinicFilter]
    search_fields = ["=patient__mrn"]
    actions = ["acknowledge_selected"]
    # The changelist orders by this (a queryset's own order_by would come after Meta.ordering).
    ordering = [SEVERITY_ORDER.desc(), "created_at", "id"]
    readonly_fields = [
        "patient_link", "surgery", "exam_link", "checkpoint_link", "code", "subject", "severity",
        "status", "message", "created_at", "acknowledged_at", "acknowledged_by", "snoozed_until",
        "resolved_at", "resolved_by", "resolution_note", "auto_resolved",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": readonly_fields}),
        ("Act on it", {"fields": ["action", "until", "note"]}),
    ]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="status")
    def status_now(self, alert: Alert) -> str:
        return alert.status_at(timezone.now())

    @admin.display(description="patient")
    def patient_link(self, alert: Alert) -> str:
        url = reverse("admin:patients_patient_change", args=[alert.patient_id])
        return format_html('<a href="{}">{}</a>', url, alert.patient.mrn)

    @admin.display(description="exam")
    def exam_link(self, alert: Alert) -> str:
        if not alert.exam_id:
            return "-"
        url = reverse("admin:imaging_imagingexam_change", args=[alert.exam_id])
        return format_html('<a href="{}">exam {}</a>', url, alert.exam_id)

    @admin.display(description="checkpoint")
    def checkpoint_link(self, alert: Alert) -> str:
        if not alert.checkpoint_id:
            return "-"
        url = reverse("admin:followup_checkpoint_change", args=[alert.checkpoint_id])
        return format_html('<a href="{}">checkpoint {}</a>', url, alert.checkpoint_id)

    def save_model(self, request, obj, form, change):
        action, now = form.cleaned_data.get("action"), timezone.now()
        try:
            if action == "acknowledge":
                alerts_lifecycle.acknowledge(obj, request.user, now)
            elif action == "snooze":
                alerts_lifecycle.snooze(obj, form.cleaned_data["until"], now)
            elif action == "resolve":
                alerts_lifecycle.resolve(obj, request.user, form.cleaned_data["note"], now)
        except alerts_lifecycle.TransitionRefused as error:
            self.message_user(request, str(error), messages.ERROR)

    @admin.action(description="Acknowledge the selected alerts", permissions=["change"])
    def acknowledge_selected(self, request, queryset):
        # A clinician of one clinic may be a viewer of another: only where they write.
        writable = queryset.filter(clinic_id__in=access_of(request).writable)
        count = alerts_lifecycle.acknowledge_many(writable, request.user, timezone.now())
        self.message_user(request, f"Acknowledged {count} alert(s).")
