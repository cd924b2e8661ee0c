"""The CDS Hooks JWT (CDS Hooks 2.0, "Trusting CDS Clients"): `Authorization: Bearer <jwt>`
signed by the EHR with a key of the JWK Set registered for its `iss`, `aud` the URL of the
service called, a `jti` never seen before, and an `exp` at most five minutes ahead. The EHR
then acts as its clinic's CDS Hooks identity (an ApiClient without scopes)."""

import pghistory
from django.conf import settings
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from patients.base.api.authentication import ClientPrincipal
from patients.base.smart import jose
from patients.models import CdsHooksClient


def service_url(request) -> str:
    """The audience the JWT must name: this service's URL under SITE_URL."""
    return f"{settings.SITE_URL}{request.path}"


class CdsHooksJwtAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header: use 'Bearer <jwt>'.")
        try:
            token = parts[1].decode("ascii")
            party = self._party(token)
            jose.verify_once(
                token,
                party.jwks,
                audience=service_url(request),
                issuer=party.iss,
                require=("iss", "aud", "exp", "iat", "jti"),
                replay_scope=f"cds:{party.iss}",
            )
        except (UnicodeDecodeError, jose.Invalid) as refused:
            raise AuthenticationFailed(f"CDS Hooks JWT refused: {refused}.") from None
        identity = party.identity
        pghistory.context(api_client=identity.pk, clinic=party.clinic.slug, cds_client=party.pk)
        return ClientPrincipal(identity), identity

    @staticmethod
    def _party(token: str) -> CdsHooksClient:
        _, claimed = jose.unverified(token)
        iss = claimed.get("iss")
        party = (
            CdsHooksClient.objects.select_related("identity", "clinic")
            .filter(iss=iss, revoked_at__isnull=True, identity__revoked_at__isnull=True)
            .first()
            if isinstance(iss, str)
            else None
        )
        if party is None:
            raise jose.Invalid("unknown or revoked issuer")
        return party

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="cds-hooks"'
