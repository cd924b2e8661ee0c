"""The patients' admin: clinics and memberships, API clients (their tokens shown once),
patients with their surgeries, events, assessments and follow-up pictures."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from followup.admin.checkpoints_and_alerts import CheckpointInline
from followup.admin.keys import ManagersHoldTheKeys, Shown, confirm_rotation, show_once
from followup.admin.scoping import (
    CappedCountPaginator,
    ClinicFilter,
    ClinicScopedAdmin,
    ClinicScopedMixin,
    admin_access,
)
from followup.audit import render_trail
from followup.delivery import digest
from followup.models import Protocol, Thresholds, plan_of
from followup.pipeline.refresh import refresh_many
from followup.pipeline.schedule import plan_workups
from followup.reads import picture, timeline
from imaging.models import ImagingExam

from .forms import PatientForm, SurgeryForm
from .models import (
    DEFAULT_SCOPES,
    ApiClient,
    Assessment,
    Clinic,
    ClinicalEvent,
    Membership,
    Patient,
    PatientIdentifier,
    RecordRead,
    Role,
    Scope,
    Surgery,
)


def pictures(patient: Patient, only: int | None = None) -> str:
    """The patient's follow-up, one SVG per surgery (followup/reads/picture.py)."""
    now = timezone.now()
    entries = timeline.build(patient, now)
    svgs = [
        picture.render(entry, entries, now, patient.transitional_variant, patient.lumbar_vertebrae)
        for entry in entries
        if entry.type == "surgery" and only in (None, entry.id)
    ]
    # Built from escaped parts by followup/reads/picture.py.
    return mark_safe("".join(f"<div class='picture'>{svg}</div>" for svg in svgs) or "-")


class SharedChoices:
    """For inlines: the rows share their surgery select's choices, read once for the page
    rather than once per row (the field still validates against its scoped queryset)."""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        field = formset.form.base_fields["surgery"]
        field.choices = list(field.choices)
        return formset


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    """Superusers manage clinics; a clinic's managers may see and edit their own."""

    list_display = ["name", "slug", "timezone", "digest_hour", "preview_link"]
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

    def get_urls(self):
        preview = self.admin_site.admin_view(self.digest_preview)
        return [
            path("<int:pk>/digest-preview/", preview, name="patients_clinic_digest_preview"),
            *super().get_urls(),
        ]

    def digest_preview(self, request, pk: int):
        """The clinic's digest as it would be sent now (last 24 hours as 'new'); sends nothing."""
        clinic = get_object_or_404(self.get_queryset(request), pk=pk)
        now = timezone.now()
        data = digest.collect(clinic, now)
        local_date = timezone.localtime(now, clinic.zone).date()
        _, _, html = digest.render(
            digest.for_recipient(data, local_date, now - timezone.timedelta(days=1))
        )
        # A read of the patients it lists (MRN and initials), audited like every other.
        shown = {row.patient_id for rows in (data.open_alerts, data.overdue, data.due_soon,
                                             data.milestones) for row in rows}  # fmt: skip
        if shown:
            RecordRead.objects.create(
                clinic=clinic, user=request.user, endpoint=request.path,
                patient_ids=sorted(shown), at=now,
            )  # fmt: skip
        return HttpResponse(html)

    @admin.display(description="digest")
    def preview_link(self, clinic: Clinic) -> str:
        url = reverse("admin:patients_clinic_digest_preview", args=[clinic.pk])
        return format_html('<a href="{}">Preview</a>', url)


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        initial=DEFAULT_SCOPES,
        widget=forms.CheckboxSelectMultiple,
        help_text="What the token opens: webhooks only for an integration that registers them.",
    )

    class Meta:
        model = ApiClient
        fields = ["clinic", "name", "scopes", "expires_at", "rate_limit_per_minute"]


@admin.register(ApiClient)
class ApiClientAdmin(ManagersHoldTheKeys, ClinicScopedAdmin):
    """Staff of the clinic see its integrations; its managers mint, rotate and revoke their
    tokens (followup/admin/keys.py), each new token shown once on the answer's page."""

    form = ApiClientForm
    list_display = ["name", "clinic", "created_at", "created_by", "expires_at", "last_used_at",
                    "revoked_at"]  # fmt: skip
    list_select_related = ["clinic", "created_by"]
    list_filter = [ClinicFilter]
    readonly_fields = ["scopes", "created_at", "created_by", "expires_at", "last_used_at",
                       "previous_token_expires_at", "revoked_at"]  # fmt: skip
    actions = ["rotate_tokens", "revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ApiClientForm.Meta.fields
        return ["clinic", "name", "rate_limit_per_minute", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a client is created, rotated or revoked, never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked clients stay, so the audit trail can name them

    def save_model(self, request, obj, form, change):
        client, token = ApiClient.issue(
            obj.clinic,
            obj.name,
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
            expires_at=obj.expires_at,
        )
        client.rate_limit_per_minute = obj.rate_limit_per_minute
        client.save(update_fields=["rate_limit_per_minute"])
        obj.pk, obj.token_hash = client.pk, client.token_hash
        request._new_token = token  # for response_add, this answer only

    def response_add(self, request, obj, post_url_continue=None):
        token = request._new_token
        shown = [Shown(str(obj), token, "Send it as: Authorization: Bearer <token>")]
        return show_once(request, self, "New API client", shown, f"Bearer token for {obj}.")

    @admin.action(description="Rotate the selected clients' tokens", permissions=["manage"])
    def rotate_tokens(self, request, queryset):
        clients, left_out = self.managed_only(request, queryset)
        if request.POST.get("post") != "yes":
            return confirm_rotation(
                request, self, clients, "rotate_tokens", "Rotate these clients' tokens", True
            )
        try:
            overlap = timedelta(hours=min(max(int(request.POST.get("overlap_hours", 24)), 0), 720))
        except ValueError:
            self.message_user(request, "The changeover is a number of hours.", messages.ERROR)
            return None
        now, shown = timezone.now(), []
        for client in clients.select_related("clinic").order_by("pk"):
            if not client.is_active or (client.expires_at and client.expires_at <= now):
                left_out += 1
                continue
            token = client.rotate(overlap)
            until = timezone.localtime(client.previous_token_expires_at)
            note = f"The old token works until {until:%Y-%m-%d %H:%M %Z}."
            shown.append(Shown(str(client), token, note))
        intro = f"New bearer tokens ({len(shown)}); {left_out} client(s) left as they were."
        return show_once(request, self, "Rotated tokens", shown, intro)

    @admin.action(description="Revoke the selected clients' tokens", permissions=["manage"])
    def revoke(self, request, queryset):
        clients, left_out = self.managed_only(request, queryset)
        count = 0
        for client in clients.filter(revoked_at__isnull=True):
            client.revoke()  # also disables the webhooks it registered
            count += 1
        self.message_user(request, f"Revoked {count} client(s) and disabled their webhooks.")
        if left_out:
            self.message_user(
                request,
                f"{left_out} client(s) left as they were: you do not manage their clinic.",
                messages.WARNING,
            )


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


class ExamInline(ClinicScopedMixin, admin.TabularInline):
    model = ImagingExam
    fields = ["performed_at", "modality", "contrast", "accession_number", "surgery"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("surgery")  # shown on each row

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # exams are added on their own page, with their findings


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
    list_filter = [ClinicFilter, "sex", TransitionalVariantFilter, "lumbar_vertebrae"]
    search_fields = ["=mrn", "family_name", "given_name", "=external_ids__value"]
    readonly_fields = ["variant_banner", "follow_up_picture", "created_at", "updated_at",
                       "audit_trail"]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["variant_banner", "clinic", "mrn", "family_name", "given_name"]}),
        ("Follow-up", {"fields": ["follow_up_picture"]}),
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
        ("Audit trail", {"classes": ["collapse"], "fields": ["audit_trail"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [IdentifierInline, SurgeryInline, ExamInline, ClinicalEventInline, AssessmentInline]

    @admin.display(boolean=True, description="LSTV")
    def variant(self, obj: Patient) -> bool:
        return bool(obj.transitional_variant)

    @admin.display(description="Transitional variant")
    def variant_banner(self, obj: Patient) -> str:
        note = picture.variant_note(obj.transitional_variant, obj.lumbar_vertebrae)
        if not note:
            return "None recorded"
        return format_html(
            '<strong style="color:#b00">Lumbosacral transitional variant: {}</strong> {}',
            note,
            obj.vertebral_numbering,
        )

    @admin.display(description="Timeline")
    def follow_up_picture(self, obj: Patient) -> str:
        return pictures(obj) if obj.pk else ""

    @admin.display(description="Changes to this patient, their surgeries and exams")
    def audit_trail(self, obj: Patient) -> str:
        return render_trail(obj) if obj.pk else ""


@admin.register(Surgery)
class SurgeryAdmin(ClinicScopedAdmin):
    form = SurgeryForm  # levels normalised, L6 checked against the patient
    inlines = [CheckpointInline]
    actions = ["replan_onto_current_versions"]
    list_display = ["patient", "procedure", "levels", "performed_at", "surgeon"]
    list_select_related = ["patient"]
    list_filter = ["procedure", ClinicFilter]
    search_fields = ["=patient__mrn", "patient__family_name", "surgeon"]
    date_hierarchy = None
    autocomplete_fields = ["patient"]
    readonly_fields = ["follow_up_picture", "created_at", "updated_at", "audit_trail"]

    @admin.display(description="Timeline")
    def follow_up_picture(self, obj: Surgery) -> str:
        return pictures(obj.patient, only=obj.pk) if obj.pk else ""

    @admin.display(description="Audit trail")
    def audit_trail(self, obj: Surgery) -> str:
        return render_trail(obj) if obj.pk else ""

    def has_replan_permission(self, request) -> bool:
        """Clinicians and managers re-plan their clinics' surgeries; a viewer only reads."""
        return bool(admin_access(request).writable)

    @admin.action(
        description="Re-plan onto the current protocol and thresholds versions",
        permissions=["replan"],
    )
    def replan_onto_current_versions(self, request, queryset):
        """The one way a surgery planned long ago gets newer numbers (CLINICAL_RULES §4,
        "Numbers are pinned"). The pghistory middleware records the change with the user."""
        writable = admin_access(request).writable
        pinned = queryset.select_related(
            "patient", "plan__protocol__clinic", "plan__thresholds__clinic"
        ).order_by("pk")
        before = {s.pk: s for s in pinned if s.clinic_id in writable}
        if read_only := len(pinned) - len(before):
            self.message_user(
                request,
                f"{read_only} surgery(ies) left as they were: you only read their clinic.",
                messages.WARNING,
            )
        if not before:
            return
        refresh_many(list(before), timezone.now(), onto_current=True)
        after = pinned.filter(pk__in=list(before)).in_bulk()
        for pk, old in before.items():
            if pk in after:
                said = f"{old.patient.reference}, {old}: {moves(old, after[pk])}"
                self.message_user(request, said)


def version(pinned: Protocol | Thresholds | None) -> str:
    if pinned is None:
        return "none"
    return f"v{pinned.version} ({pinned.clinic.slug if pinned.clinic_id else 'default'})"


def moves(old: Surgery, new: Surgery) -> str:
    """What a re-plan changed: "protocol v1 (default) -> v2 (paris), thresholds ..." """
    was, now = plan_of(old), plan_of(new)
    changes = [
        f"{name} {version(before)} -> {version(after)}"
        for name, before, after in [
            ("protocol", was.protocol, now.protocol),
            ("thresholds", was.thresholds, now.thresholds),
        ]
        if getattr(before, "pk", None) != getattr(after, "pk", None)
    ]
    return ", ".join(changes) or "already on the current versions"


@admin.register(ClinicalEvent)
class ClinicalEventAdmin(ClinicScopedAdmin):
    """Recording a symptom here schedules its work-up, as through the API."""

    list_display = ["occurred_at", "code", "patient", "source"]
    list_select_related = ["patient"]
    list_filter = ["code", "source", ClinicFilter]
    search_fields = ["=patient__mrn"]
    autocomplete_fields = ["patient", "surgery"]
    readonly_fields = ["source", "relief_assessment", "recurrence_assessment", "created_at"]
    inlines = [CheckpointInline]

    def save_model(self, request, obj, form, change):
        if obj.surgery_id is None:
            obj.surgery = Surgery.objects.latest_before(obj.patient, obj.occurred_at)
        super().save_model(request, obj, form, change)
        if obj.surgery_id:
            plan_workups(obj.surgery, timezone.now())


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


class PatientReadFilter(admin.SimpleListFilter):
    """`?patient=<id>`: the reads that showed this patient (the id of the patient's page)."""

    title = "patient"
    parameter_name = "patient"

    def lookups(self, request, model_admin):
        value = self.value() or ""
        return [(value, f"patient {value}")] if value.isdecimal() and len(value) < 19 else []

    def queryset(self, request, queryset):
        return queryset.filter(patient_ids__contains=[int(self.value())])


@admin.register(RecordRead)
class RecordReadAdmin(admin.ModelAdmin):
    """The audit of reads: who saw which patients, when, through which page or endpoint.
    Superusers only (it tells who looked at whom across every clinic); nobody edits it; the
    sweep deletes it after READ_AUDIT_RETENTION_DAYS."""

    list_display = ["at", "user", "client", "clinic", "endpoint", "patients"]
    list_select_related = ["user", "client__clinic", "clinic"]
    list_filter = [("at", admin.DateFieldListFilter), "user", "client", "clinic",
                   PatientReadFilter]  # fmt: skip
    search_fields = ["patient_ids"]  # shows the box; get_search_results reads it
    search_help_text = "A patient's MRN, or their id"
    fields = readonly_fields = ["at", "user", "client", "clinic", "endpoint", "patient_ids"]
    show_full_result_count = False  # the table is large: never COUNT it all
    paginator = CappedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        ids = list(Patient.objects.filter(mrn=term).values_list("pk", flat=True))
        if term.isdecimal() and len(term) < 19:
            ids.append(int(term))
        return queryset.filter(patient_ids__overlap=ids), False

    @admin.display(description="patients")
    def patients(self, read: RecordRead) -> str:
        ids = ", ".join(map(str, read.patient_ids[:20]))
        return ids if len(read.patient_ids) <= 20 else f"{ids}, … ({len(read.patient_ids)})"

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the retention deletes it, nobody else
