"""The patient records' admin: patients with their identifiers, surgeries, symptoms and
assessments, each change's audit trail beside it (the follow-up adds its pictures,
checkpoints and re-plan action on top: followup/admin/records.py)."""

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html

from patients.base.admin.scoping import ClinicFilter, ClinicScopedAdmin, ClinicScopedMixin
from patients.base.audit import render_trail
from patients.forms import PatientForm, SurgeryForm
from patients.levels import variant_note
from patients.models import Assessment, ClinicalEvent, Patient, PatientIdentifier, Surgery
from patients.signals import clinical_event_recorded


class SharedChoices:
    """For inlines: the rows share their surgery select's choices, read once for the page
    rather than once per row (the field still validates against its scoped queryset)."""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        field = formset.form.base_fields["surgery"]
        field.choices = list(field.choices)
        return formset


class IdentifierInline(ClinicScopedMixin, admin.TabularInline):
    model = PatientIdentifier
    clinic_lookup = "patient__clinic"
    extra = 0


class SurgeryInline(ClinicScopedMixin, admin.TabularInline):
    model = Surgery
    form = SurgeryForm  # levels normalised, L6 checked against the patient as posted
    fields = ["performed_at", "procedure", "levels", "hardware", "surgeon"]
    extra = 0
    show_change_link = True


class ClinicalEventInline(SharedChoices, ClinicScopedMixin, admin.TabularInline):
    model = ClinicalEvent
    fk_name = "patient"
    fields = ["occurred_at", "code", "surgery", "source", "notes"]
    readonly_fields = ["source"]
    extra = 0
    show_change_link = True


class AssessmentInline(SharedChoices, ClinicScopedMixin, admin.TabularInline):
    model = Assessment
    fields = ["assessed_at", "nrs_back", "nrs_leg", "odi", "surgery"]
    extra = 0


class TransitionalVariantFilter(admin.SimpleListFilter):
    title = "transitional variant"
    parameter_name = "variant"

    def lookups(self, request, model_admin):
        return [("yes", "Present"), ("no", "None")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(transitional_variant="")
        if self.value() == "no":
            return queryset.filter(transitional_variant="")
        return queryset


@admin.register(Patient)
class PatientAdmin(ClinicScopedAdmin):
    form = PatientForm
    list_display = ["mrn", "family_name", "given_name", "birth_date", "sex", "clinic", "variant",
                    "lumbar_vertebrae"]  # fmt: skip
    list_select_related = ["clinic"]
    list_filter = [ClinicFilter, "followup_status", "sex", TransitionalVariantFilter,
                   "lumbar_vertebrae"]  # fmt: skip
    search_fields = ["=mrn", "family_name", "given_name", "=external_ids__value"]
    readonly_fields = ["variant_banner", "followup_status_set_at", "followup_status_set_by",
                       "created_at", "updated_at", "audit_trail"]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["variant_banner", "clinic", "mrn", "family_name", "given_name"]}),
        (
            None,
            {
                "fields": [
                    "birth_date",
                    "sex",
                    "transitional_variant",
                    "lumbar_vertebrae",
                    "vertebral_numbering",
                ]
            },
        ),
        (
            "Follow-up",
            {
                "fields": [
                    "followup_status",
                    "followup_status_reason",
                    "followup_status_set_at",
                    "followup_status_set_by",
                ],
                "description": "Any status but active ends the pending follow-up: no overdue "
                "alert, digest line or invitation; open overdue alerts resolve.",
            },
        ),
        ("Audit trail", {"classes": ["collapse"], "fields": ["audit_trail"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [IdentifierInline, SurgeryInline, ClinicalEventInline, AssessmentInline]

    def save_model(self, request, obj, form, change):
        obj.note_followup_status(f"user {request.user.get_username()}", timezone.now())
        super().save_model(request, obj, form, change)

    @admin.display(boolean=True, description="LSTV")
    def variant(self, obj: Patient) -> bool:
        return bool(obj.transitional_variant)

    @admin.display(description="Transitional variant")
    def variant_banner(self, obj: Patient) -> str:
        note = variant_note(obj.transitional_variant, obj.lumbar_vertebrae)
        if not note:
            return "None recorded"
        return format_html(
            '<strong style="color:#b00">Lumbosacral transitional variant: {}</strong> {}',
            note,
            obj.vertebral_numbering,
        )

    @admin.display(description="Changes to this patient, their surgeries and exams")
    def audit_trail(self, obj: Patient) -> str:
        return render_trail(obj) if obj.pk else ""


@admin.register(Surgery)
class SurgeryAdmin(ClinicScopedAdmin):
    form = SurgeryForm  # levels normalised, L6 checked against the patient
    list_display = ["patient", "procedure", "levels", "performed_at", "surgeon"]
    list_select_related = ["patient"]
    list_filter = ["procedure", ClinicFilter]
    search_fields = ["=patient__mrn", "patient__family_name", "surgeon"]
    date_hierarchy = None
    autocomplete_fields = ["patient"]
    readonly_fields = ["created_at", "updated_at", "audit_trail"]

    @admin.display(description="Audit trail")
    def audit_trail(self, obj: Surgery) -> str:
        return render_trail(obj) if obj.pk else ""


@admin.register(ClinicalEvent)
class ClinicalEventAdmin(ClinicScopedAdmin):
    """Recording a symptom schedules its work-up, as through the API (clinical_event_recorded)."""

    list_display = ["occurred_at", "code", "patient", "source"]
    list_select_related = ["patient"]
    list_filter = ["code", "source", ClinicFilter]
    search_fields = ["=patient__mrn"]
    autocomplete_fields = ["patient", "surgery"]
    readonly_fields = ["source", "relief_assessment", "recurrence_assessment", "created_at"]

    def save_model(self, request, obj, form, change):
        if obj.surgery_id is None:
            obj.surgery = Surgery.objects.latest_before(obj.patient, obj.occurred_at)
        super().save_model(request, obj, form, change)
        clinical_event_recorded.send(ClinicalEvent, event=obj)


@admin.register(Assessment)
class AssessmentAdmin(ClinicScopedAdmin):
    list_display = ["assessed_at", "patient", "nrs_back", "nrs_leg", "odi"]
    list_select_related = ["patient"]
    list_filter = [ClinicFilter]
    search_fields = ["=patient__mrn"]
    autocomplete_fields = ["patient", "surgery"]

    def save_model(self, request, obj, form, change):
        if obj.surgery_id is None:
            obj.surgery = Surgery.objects.latest_before(obj.patient, obj.assessed_at)
        super().save_model(request, obj, form, change)
