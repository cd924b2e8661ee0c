"""Bearer tokens for integration clients (their own tokens, or the access tokens issued to
SMART backend clients: patients/base/smart/); staff use the admin's session."""

from dataclasses import dataclass
from functools import partial

import pghistory
from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from patients.models import LAST_USED_PRECISION, ApiClient

from ..smart import access as smart_access


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
        client = ApiClient.authenticate(token) or smart_access.client_for(token)
        if client is None:
            raise AuthenticationFailed("Invalid, expired or revoked token.")
        self._record_use(client)
        # Every change this request makes is audited as made by this client (and, for a
        # SMART access token, by which SMART client).
        context = {"api_client": client.pk, "clinic": client.clinic.slug}
        if smart := smart_access.smart_use(client):
            context["smart_client"] = smart.client_id
        pghistory.context(**context)
        return ClientPrincipal(client), client

    @staticmethod
    def _record_use(client: ApiClient) -> None:
        """`last_used_at`, at most one write a minute per token (ApiClient.touch). After the
        request's commit: an UPDATE in the request's transaction would hold the client's row
        until the request ends, and make the client's concurrent requests wait on it."""
        now = timezone.now()
        if client.last_used_at is None or client.last_used_at < now - LAST_USED_PRECISION:
            transaction.on_commit(partial(client.touch, now))

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
