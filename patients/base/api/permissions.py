"""Who may call the API at all: a caller working for a clinic (writes need a non-viewer
role), and an integration's scopes."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from patients.models import ApiClient, Scope

from ..smart.access import smart_use
from .scoping import readable_clinic_ids, writable_clinic_ids


class HasClinicAccess(BasePermission):
    """Authenticated, and working for at least one clinic (writing needs a non-viewer role)."""

    message = "You do not work for any clinic, or your role there is read-only."

    def has_permission(self, request, view) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        if request.method in SAFE_METHODS:
            return bool(readable_clinic_ids(request))
        return bool(writable_clinic_ids(request))

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return obj.clinic_id in writable_clinic_ids(request)


class HasScope(BasePermission):
    """An integration client needs the scope of what it does: `read` for GET, `write`
    for the rest, or the view's own `required_scope` (e.g. `fhir`). A SMART access token
    also needs a grant for the view's FHIR `resource_type` (`system/Patient.rs`), or for
    every type (`system/*.rs`) where the view has none (the REST API, the transaction),
    unless the view serves every token alike (`any_grant`: what the server can do).
    Staff sessions are governed by their role instead."""

    message = "This client's token does not have the scope for this request."

    def has_permission(self, request, view) -> bool:
        client = request.auth if isinstance(request.auth, ApiClient) else None
        if client is None:
            return True
        if (smart := smart_use(client)) is not None:
            access = "read" if request.method in SAFE_METHODS else "write"
            kind = getattr(view, "resource_type", None) or None
            if not getattr(view, "any_grant", False) and not smart.grants.allows(kind, access):
                return False
        needed = getattr(view, "required_scope", None)
        if needed is None:
            needed = Scope.READ if request.method in SAFE_METHODS else Scope.WRITE
        elif request.method not in SAFE_METHODS and needed != Scope.WEBHOOKS:
            return client.has_scope(needed) and client.has_scope(Scope.WRITE)
        return client.has_scope(needed)
