"""`/.well-known/smart-configuration` and the token endpoint (`POST /auth/token`) of SMART
Backend Services: the client credentials grant, the client authenticated by a JWT it signed
with a key of its registered JWK Set (RFC 7523 `private_key_jwt`).

Errors follow RFC 6749 §5.2: `invalid_request` and `unsupported_grant_type` for the form,
`invalid_client` (401) for an assertion that does not authenticate a live client (unknown,
revoked, bad signature, wrong algorithm, audience or issuer, expired, living more than five
minutes, replayed), `invalid_scope` for scopes that are not SMART system scopes or grant
nothing. The reason is in `error_description`; no assertion or token is ever logged."""

import logging
from datetime import timedelta

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from patients.models import JWT_ALGORITHMS, SmartAccessToken, SmartClient

from .. import ratelimit
from . import jose
from .scopes import Grants, InvalidScope

log = logging.getLogger(__name__)

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

SCOPES_SUPPORTED = ["system/*.rs", "system/*.cruds", "system/*.read", "system/*.write"]


def token_endpoint_url() -> str:
    """The assertion's audience: what the discovery document says, from SITE_URL (never
    from the request's Host header)."""
    return f"{settings.SITE_URL}/auth/token"


@require_GET
def smart_configuration(request):
    return JsonResponse(
        {
            "token_endpoint": token_endpoint_url(),
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(JWT_ALGORITHMS),
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": SCOPES_SUPPORTED,
            "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
        }
    )


def _error(error: str, description: str, status: int = 400) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="smart", error="invalid_client"'
    return response


def authenticate_client(assertion: str) -> SmartClient:
    """The live client whose key signed this assertion, once: raises jose.Invalid."""
    _, claimed = jose.unverified(assertion)
    client_id = claimed.get("iss")
    client = (
        SmartClient.objects.select_related("identity", "clinic")
        .filter(client_id=client_id, revoked_at__isnull=True, identity__revoked_at__isnull=True)
        .first()
        if isinstance(client_id, str)
        else None
    )
    if client is None:
        raise jose.Invalid("unknown or revoked client")
    claims = jose.verify_once(
        assertion,
        client.jwks,
        audience=token_endpoint_url(),
        issuer=client.client_id,
        require=("iss", "sub", "aud", "exp", "jti"),
        replay_scope=f"smart:{client.client_id}",
    )
    if claims["sub"] != client.client_id:
        raise jose.Invalid("sub must be the client_id")
    return client


@csrf_exempt
@require_POST
def token(request):
    if ratelimit.exceeded(request, "smart-token", settings.SMART_TOKEN_RATE, 60):
        response = _error("invalid_request", "Too many token requests from this address.", 429)
        response["Retry-After"] = "60"
        return response
    form = request.POST
    if form.get("grant_type") != "client_credentials":
        return _error("unsupported_grant_type", "grant_type must be client_credentials.")
    if form.get("client_assertion_type") != JWT_BEARER:
        return _error("invalid_request", f"client_assertion_type must be {JWT_BEARER}.")
    assertion, requested = form.get("client_assertion"), form.get("scope", "")
    if not assertion:
        return _error("invalid_request", "client_assertion is missing.")
    try:
        client = authenticate_client(assertion)
    except jose.Invalid as refused:
        return _error("invalid_client", f"client_assertion refused: {refused}.", 401)
    try:
        grants = Grants.parse(requested).narrowed_to({"read", "write"} & _allowed(client))
    except InvalidScope as bad:
        return _error("invalid_scope", f"{bad} is not a SMART system scope.")
    if not grants:
        return _error("invalid_scope", "None of the requested scopes can be granted.")
    lifetime = timedelta(seconds=settings.SMART_ACCESS_TOKEN_SECONDS)
    _row, access_token = SmartAccessToken.issue(
        client, str(grants), grants.client_scopes(), lifetime
    )
    response = JsonResponse(
        {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": int(lifetime.total_seconds()),
            "scope": str(grants),
        }
    )
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _allowed(client: SmartClient) -> set[str]:
    return {str(scope) for scope in client.scopes}
