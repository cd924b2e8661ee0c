"""Which clinics a person may read and write: the one rule of tenant isolation.

The API (patients/base/api/scoping.py) and the admin (patients/base/admin/scoping.py) both ask here.
"""

from dataclasses import dataclass

from .models import Clinic, Membership, Role


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
