from rest_framework.permissions import SAFE_METHODS, BasePermission

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
