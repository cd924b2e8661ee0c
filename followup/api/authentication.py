"""Bearer tokens for integration clients; staff use the admin's session."""

from dataclasses import dataclass

import pghistory
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from patients.models import ApiClient


@dataclass(frozen=True)
class ClientPrincipal:
    """Stands in for `request.user` when an integration client calls."""

    client: ApiClient
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None

    def __str__(self) -> str:
        return f"api-client:{self.client.pk}"


class ApiClientTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header: use 'Bearer <token>'.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid token.") from None
        client = ApiClient.authenticate(token)
        if client is None:
            raise AuthenticationFailed("Invalid or revoked token.")
        # Every change this request makes is audited as made by this client.
        pghistory.context(api_client=client.pk, clinic=client.clinic.slug)
        return ClientPrincipal(client), client

    def authenticate_header(self, request) -> str:
        # Answer 401 (not 403) to a request without credentials.
        return 'Bearer realm="api"'


class ApiClientTokenScheme(OpenApiAuthenticationExtension):
    """Documents the bearer token in the OpenAPI schema that integrations read."""

    target_class = ApiClientTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Bearer"
        )
