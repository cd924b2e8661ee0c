"""The JWK Sets that SMART clients and CDS Hooks EHRs publish at a URL (`jwks_url`,
instead of registering their keys): fetched through outbound.py (the address checked is
the address connected to, no redirect, one deadline, a size limit), checked like a
registered set, and stored as the party's `jwks`, which its JWTs are verified against.

Fetched when the party is registered (signals.py), then by the beat every few minutes
(tasks.refresh_jwks): a key the party rotates in is accepted from the next fetch on, so a
party publishes a new key a few minutes before it signs with it (as SMART Backend
Services asks). The token endpoint and the hooks never wait on the network. A fetch that
fails keeps the keys of the last one that worked (an outage of the party's server does
not lock it out) and says why on the party's admin page; a revoked party is not fetched.
"""

import logging

from django.core.exceptions import ValidationError
from django.utils import timezone

from patients.models import CdsHooksClient, SmartClient, validate_jwks

from . import outbound

log = logging.getLogger(__name__)

MAX_BYTES = 64 * 1024  # a JWK Set of a few keys is a few kilobytes


def fetch(party: SmartClient | CdsHooksClient) -> bool:
    """Fetch the party's JWK Set into its `jwks`; False (and `jwks_error`) if it failed."""
    try:
        key_set = outbound.get_json(party.jwks_url, MAX_BYTES)
        validate_jwks(key_set)
    except outbound.Refused as refused:
        error = str(refused)
    except ValidationError as invalid:
        error = " ".join(invalid.messages)
    else:
        type(party).objects.filter(pk=party.pk).update(
            jwks=key_set, jwks_fetched_at=timezone.now(), jwks_error=""
        )
        return True
    type(party).objects.filter(pk=party.pk).update(jwks_error=error[:200])
    log.warning("JWK Set of %s %s not fetched: %s", type(party).__name__, party.pk, error)
    return False


def refresh_all() -> int:
    """Every live party with a JWK Set URL fetched again; how many were fetched."""
    fetched = 0
    for model in (SmartClient, CdsHooksClient):
        for party in model.objects.exclude(jwks_url="").filter(revoked_at__isnull=True):
            fetched += fetch(party)
    return fetched
