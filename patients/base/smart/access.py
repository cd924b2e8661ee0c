"""A SMART access token, presented as `Authorization: Bearer`, turned into the ApiClient its
client acts as, narrowed to what the token was granted."""

from dataclasses import dataclass

from patients.models import ApiClient, SmartAccessToken

from .scopes import Grants


@dataclass(frozen=True)
class SmartUse:
    """Which SMART client, and what its token grants per resource type."""

    client_id: int
    grants: Grants


def client_for(token: str) -> ApiClient | None:
    """The client's identity (a fresh instance, never saved) with the token's scopes, or
    None for a token that is unknown, expired or of a revoked client."""
    found = SmartAccessToken.authenticate(token)
    if found is None:
        return None
    identity = found.client.identity
    identity.scopes = list(found.scopes)  # only what this token was granted
    identity.smart = SmartUse(found.client_id, Grants.parse(found.scope))
    return identity


def smart_use(client: ApiClient | None) -> SmartUse | None:
    return getattr(client, "smart", None)
