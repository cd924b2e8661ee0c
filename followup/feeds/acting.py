"""Who a feed writes as: what the REST API's serializers read of a request (the one clinic
written to, and the actor), for a write that comes from no request."""

from dataclasses import dataclass

from patients.access import ClinicAccess


@dataclass(frozen=True)
class FeedPrincipal:
    """Stands in for `request.user`: the source is the actor of what it writes."""

    actor_label: str
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None


class FeedRequest:
    """What the serializers read of a request: the one clinic written to, and who."""

    def __init__(self, clinic_id: int, actor: str):
        self.user = FeedPrincipal(actor)
        self.auth = None
        self._clinic_access = ClinicAccess.single(clinic_id)
