"""SMART backend clients and CDS Hooks EHRs in the admin: staff of the clinic see them, its
managers register and revoke them (their public keys, never a secret: nothing to show once
but the client_id, which is not one)."""

import json

from django import forms
from django.contrib import admin, messages

from patients.base.admin.keys import ManagersHoldTheKeys
from patients.base.admin.scoping import ClinicFilter, ClinicScopedAdmin
from patients.models import SMART_SCOPES, CdsHooksClient, Scope, SmartClient, validate_jwks


class JwksField(forms.JSONField):
    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 8, "cols": 80}))
        kwargs.setdefault("help_text", 'The public keys: {"keys": [{"kty": ..., "kid": ...}]}; '
                          "or leave empty and give the URL where they are published.")  # fmt: skip
        super().__init__(validators=[validate_jwks], required=False, **kwargs)


class KeysForm(forms.ModelForm):
    """The public keys, registered (a JWK Set) or published (a JWK Set URL): one of them."""

    jwks = JwksField()

    def clean(self):
        data = super().clean()
        if bool(data.get("jwks")) == bool(data.get("jwks_url")):
            self.add_error("jwks", "Give either the JWK Set or its URL (one of them).")
        return data


class SmartClientForm(KeysForm):
    scopes = forms.MultipleChoiceField(
        choices=[(s.value, s.label) for s in SMART_SCOPES],
        initial=[Scope.READ],
        widget=forms.CheckboxSelectMultiple,
        help_text="What its tokens may be granted: read (system/*.rs), write (system/*.cud).",
    )

    class Meta:
        model = SmartClient
        fields = ["clinic", "name", "jwks", "jwks_url", "scopes"]


class CdsHooksClientForm(KeysForm):
    class Meta:
        model = CdsHooksClient
        fields = ["clinic", "name", "iss", "jwks", "jwks_url"]


class JwtPartyAdmin(ManagersHoldTheKeys, ClinicScopedAdmin):
    list_select_related = ["clinic", "created_by"]
    list_filter = [ClinicFilter]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # registered or revoked, never edited: register new keys as a new one

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked parties stay, so the audit trail can name them

    @admin.action(description="Revoke the selected", permissions=["manage"])
    def revoke(self, request, queryset):
        kept, left_out = self.managed_only(request, queryset)
        count = 0
        for party in kept.filter(revoked_at__isnull=True).select_related("identity"):
            party.revoke()
            count += 1
        self.message_user(request, f"Revoked {count}.")
        if left_out:
            self.message_user(
                request, f"{left_out} left as they were: you do not manage their clinic.",
                messages.WARNING,
            )  # fmt: skip


@admin.register(SmartClient)
class SmartClientAdmin(JwtPartyAdmin):
    form = SmartClientForm
    list_display = ["name", "clinic", "client_id", "created_at", "created_by", "revoked_at"]
    readonly_fields = ["clinic", "name", "client_id", "scopes", "keys", "jwks_url",
                       "jwks_fetched_at", "jwks_error", "created_at", "created_by",
                       "revoked_at"]  # fmt: skip

    def get_fields(self, request, obj=None):
        return SmartClientForm.Meta.fields if obj is None else self.readonly_fields

    @admin.display(description="public keys")
    def keys(self, obj):
        return json.dumps(obj.jwks, indent=1)

    def save_model(self, request, obj, form, change):
        registered = SmartClient.register(
            obj.clinic, obj.name, form.cleaned_data["jwks"], form.cleaned_data["scopes"],
            created_by=request.user, jwks_url=obj.jwks_url,
        )  # fmt: skip
        obj.pk, obj.client_id = registered.pk, registered.client_id
        obj.identity_id = registered.identity_id

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, f"SMART client registered; its client_id: {obj.client_id}")
        return super().response_add(request, obj, post_url_continue)


@admin.register(CdsHooksClient)
class CdsHooksClientAdmin(JwtPartyAdmin):
    form = CdsHooksClientForm
    list_display = ["name", "clinic", "iss", "created_at", "created_by", "revoked_at"]
    readonly_fields = ["clinic", "name", "iss", "keys", "jwks_url", "jwks_fetched_at",
                       "jwks_error", "created_at", "created_by", "revoked_at"]  # fmt: skip

    def get_fields(self, request, obj=None):
        return CdsHooksClientForm.Meta.fields if obj is None else self.readonly_fields

    @admin.display(description="public keys")
    def keys(self, obj):
        return json.dumps(obj.jwks, indent=1)

    def save_model(self, request, obj, form, change):
        registered = CdsHooksClient.register(
            obj.clinic, obj.name, obj.iss, form.cleaned_data["jwks"], created_by=request.user,
            jwks_url=obj.jwks_url,
        )  # fmt: skip
        obj.pk, obj.identity_id = registered.pk, registered.identity_id
