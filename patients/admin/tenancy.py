"""The tenancy's admin: clinics and their memberships, API clients (their tokens minted,
rotated and revoked by the clinic's managers, each new token shown once)."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from patients.access import access_of
from patients.base.admin.keys import ManagersHoldTheKeys, Shown, confirm_rotation, show_once
from patients.base.admin.scoping import ClinicFilter, ClinicScopedAdmin
from patients.models import DEFAULT_SCOPES, ApiClient, Clinic, Membership, Scope


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    """Superusers manage clinics; a clinic's managers may see and edit their own."""

    list_display = ["name", "slug", "timezone", "digest_hour"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk__in=access_of(request).readable)

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser or bool(access_of(request).readable)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser or (
            obj is not None and obj.pk in access_of(request).managed
        )

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
    tokens (patients/base/admin/keys.py), each new token shown once on the answer's page."""

    form = ApiClientForm
    list_display = ["name", "clinic", "created_at", "created_by", "expires_at", "last_used_at",
                    "revoked_at"]  # fmt: skip
    list_select_related = ["clinic", "created_by"]
    list_filter = [ClinicFilter]
    readonly_fields = ["scopes", "created_at", "created_by", "expires_at", "last_used_at",
                       "previous_token_expires_at", "revoked_at"]  # fmt: skip
    actions = ["rotate_tokens", "revoke"]

    def get_queryset(self, request):
        # The identities of SMART and CDS Hooks clients are theirs (patients/admin/smart.py):
        # a bearer token rotated here would open a door their keys were meant to guard.
        return (
            super()
            .get_queryset(request)
            .filter(smart_client__isnull=True, cds_hooks_client__isnull=True)
        )

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
