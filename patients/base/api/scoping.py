"""The caller's clinics for an API request, computed once per request."""

from rest_framework.request import Request

from patients.access import ClinicAccess, access_for_user
from patients.models import ApiClient


def clinic_access(request: Request) -> ClinicAccess:
    if not hasattr(request, "_clinic_access"):
        if isinstance(request.auth, ApiClient):
            request._clinic_access = ClinicAccess.single(request.auth.clinic_id)
        else:
            request._clinic_access = access_for_user(request.user)
    return request._clinic_access


def readable_clinic_ids(request: Request) -> frozenset[int]:
    return clinic_access(request).readable


def writable_clinic_ids(request: Request) -> frozenset[int]:
    return clinic_access(request).writable
