"""Which clinics a caller may read, write and manage: the one rule of tenant isolation,
computed once per request (`access_of`) for the API, the admin and the pages alike."""

from dataclasses import dataclass

from .models import ApiClient, Clinic, Membership, Role


@dataclass(frozen=True)
class ClinicAccess:
    readable: frozenset[int]
    writable: frozenset[int]
    # Where they hold the integration's keys: mint, rotate and revoke tokens, see and
    # rotate webhook secrets. Managers of the clinic, and superusers.
    managed: frozenset[int] = frozenset()

    @classmethod
    def single(cls, clinic_id: int) -> "ClinicAccess":
        ids = frozenset({clinic_id})
        return cls(ids, ids)


NO_ACCESS = ClinicAccess(frozenset(), frozenset())


def access_for_user(user) -> ClinicAccess:
    if user is None or not user.is_authenticated or not user.is_active:
        return NO_ACCESS
    if user.is_superuser:
        ids = frozenset(Clinic.objects.values_list("id", flat=True))
        return ClinicAccess(ids, ids, ids)
    roles = list(Membership.objects.filter(user=user).values_list("clinic_id", "role"))
    return ClinicAccess(
        readable=frozenset(clinic for clinic, _ in roles),
        writable=frozenset(clinic for clinic, role in roles if role != Role.VIEWER),
        managed=frozenset(clinic for clinic, role in roles if role == Role.MANAGER),
    )


def access_of(request) -> ClinicAccess:
    """The caller's clinics, computed once per request: an API client has its one clinic,
    staff their memberships. Takes Django's request or DRF's (which wraps it; the answer is
    kept on Django's, so both see the same)."""
    raw = getattr(request, "_request", request)
    if not hasattr(raw, "_clinic_access"):
        auth = getattr(request, "auth", None)
        raw._clinic_access = (
            ClinicAccess.single(auth.clinic_id)
            if isinstance(auth, ApiClient)
            else access_for_user(request.user)
        )
    return raw._clinic_access
