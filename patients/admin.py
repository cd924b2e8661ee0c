from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from followup.admin import CheckpointInline
from followup.admin_scoping import ClinicFilter, ClinicScopedAdmin, ClinicScopedMixin, admin_access
from followup.audit import render_trail
from followup.refresh import refresh
from imaging.models import ImagingExam

from .models import ApiClient, Clinic, Membership, Patient, PatientIdentifier, Role, Surgery


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    """Superusers manage clinics; a clinic's managers may see and edit their own."""

    list_display = ["name", "slug", "timezone"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]

    def _managed(self, request) -> set[int]:
        return set(
            Membership.objects.filter(user=request.user, role=Role.MANAGER).values_list(
                "clinic_id", flat=True
            )
        )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk__in=admin_access(request).readable)

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser or bool(admin_access(request).readable)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser or (obj is not None and obj.pk in self._managed(request))

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiClient)
class ApiClientAdmin(ClinicScopedAdmin):
    list_display = ["name", "clinic", "created_at", "last_used_at", "revoked_at"]
    list_filter = [ClinicFilter]
    readonly_fields = ["created_at", "last_used_at", "revoked_at"]
    fields = ["clinic", "name", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a client is created or revoked, never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked clients stay, so the audit trail can name them

    def save_model(self, request, obj, form, change):
        client, token = ApiClient.issue(obj.clinic, obj.name)
        obj.pk, obj.token_hash = client.pk, client.token_hash
        self.message_user(
            request,
            f"Bearer token for '{client.name}', shown once, copy it now: {token}",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected clients' tokens")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} client(s).")


class IdentifierInline(ClinicScopedMixin, admin.TabularInline):
    model = PatientIdentifier
    clinic_lookup = "patient__clinic"
    extra = 0


class SurgeryInline(ClinicScopedMixin, admin.TabularInline):
    model = Surgery
    fields = ["performed_at", "procedure", "levels", "hardware", "surgeon"]
    extra = 0
    show_change_link = True


class ExamInline(ClinicScopedMixin, admin.TabularInline):
    model = ImagingExam
    fields = ["performed_at", "modality", "contrast", "accession_number", "surgery"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # exams are added on their own page, with their findings


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
    list_display = ["mrn", "family_name", "given_name", "birth_date", "sex", "clinic", "variant"]
    list_select_related = ["clinic"]
    list_filter = [ClinicFilter, "sex", TransitionalVariantFilter]
    search_fields = ["=mrn", "family_name", "given_name", "=external_ids__value"]
    readonly_fields = ["variant_banner", "created_at", "updated_at", "audit_trail"]
    fieldsets = [
        (None, {"fields": ["variant_banner", "clinic", "mrn", "family_name", "given_name"]}),
        (None, {"fields": ["birth_date", "sex", "transitional_variant", "vertebral_numbering"]}),
        ("Audit trail", {"classes": ["collapse"], "fields": ["audit_trail"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [IdentifierInline, SurgeryInline, ExamInline]

    @admin.display(boolean=True, description="LSTV")
    def variant(self, obj: Patient) -> bool:
        return bool(obj.transitional_variant)

    @admin.display(description="Transitional variant")
    def variant_banner(self, obj: Patient) -> str:
        if not obj.transitional_variant:
            return "None recorded"
        return format_html(
            '<strong style="color:#b00">Lumbosacral transitional variant: {}</strong> {}',
            obj.transitional_variant,
            obj.vertebral_numbering,
        )

    @admin.display(description="Changes to this patient, their surgeries and exams")
    def audit_trail(self, obj: Patient) -> str:
        return render_trail(obj) if obj.pk else ""


@admin.register(Surgery)
class SurgeryAdmin(ClinicScopedAdmin):
    inlines = [CheckpointInline]
    actions = ["replan_onto_current_protocol"]
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

    @admin.action(description="Re-plan onto the current protocol version")
    def replan_onto_current_protocol(self, request, queryset):
        now = timezone.now()
        count = sum(
            refresh(pk, now, onto_current=True) for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"Re-planned {count} surgery(ies) onto the current protocol.")
