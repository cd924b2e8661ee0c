"""The integration's keys in the admin (API tokens, webhook signing secrets): who holds
them, and how a new one is shown.

Staff of a clinic may look at its API clients and webhook receivers; only its managers
(and superusers) mint, rotate and revoke. A new token or secret is the body of the answer
to the POST that made it, shown that once: never in a redirect's messages (Django's
messages cookie is signed, not encrypted), never stored in clear, never on a later page.
"""

from dataclasses import dataclass

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from patients.access import access_of
from patients.models import Clinic


class ManagersHoldTheKeys:
    """Before ClinicScopedAdmin: add, change, delete and the `manage` actions are for the
    object's clinic's managers; reading stays with ClinicScopedMixin (any staff of it)."""

    def has_manage_permission(self, request, obj=None) -> bool:
        managed = access_of(request).managed
        return bool(managed) and (obj is None or self._clinic_of(obj) in managed)

    def has_add_permission(self, request, obj=None) -> bool:
        return self.has_manage_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_manage_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_manage_permission(request, obj)

    def managed_only(self, request, queryset):
        """The selected rows a manager may act on, and how many were left out."""
        kept = queryset.filter(**{f"{self.clinic_lookup}__in": access_of(request).managed})
        return kept, queryset.count() - kept.count()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.related_model is Clinic and field is not None:
            field.queryset = field.queryset.filter(pk__in=access_of(request).managed)
        return field


@dataclass(frozen=True)
class Shown:
    label: str
    value: str
    note: str = ""


def show_once(request, model_admin, title: str, shown: list[Shown], intro: str) -> TemplateResponse:
    """The page that shows new keys, this once; not cached anywhere on the way."""
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "title": title,
        "intro": intro,
        "shown": shown,
    }
    response = TemplateResponse(request, "admin/followup/shown_once.html", context)
    add_never_cache_headers(response)  # no-store: no cache or back button brings it back
    return response


def confirm_rotation(request, model_admin, queryset, action: str, title: str, ask_overlap: bool):
    """An action's confirmation page (as Django's delete_selected), posting back `post=yes`."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "queryset": queryset,
        "action": action,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "ask_overlap": ask_overlap,
    }
    return TemplateResponse(request, "admin/followup/confirm_rotation.html", context)
