"""A signed JWT checked against a stored JWK Set, with PyJWT: the algorithm from an allow
list (RS384, ES384; never a symmetric one, never "none"), the key named by the header's
`kid` and of that algorithm's type, then the signature, `exp`, `aud` and `iss` claims.
No cryptography of our own. `verify_once` adds what a SMART client's assertion and a CDS
Hooks EHR's JWT both must be: short-lived and used once."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
from jwt import PyJWK, PyJWTError

from patients.models import JWT_ALGORITHMS, SeenJwt

# SMART backend services and CDS Hooks: `exp` "no more than five minutes in the future";
# a little more for the clocks of the two sides, which are never quite the same.
LIFETIME = timedelta(minutes=5)
CLOCK_SKEW = 30  # seconds

_KEY_TYPE = {"RS384": "RSA", "ES384": "EC"}


class Invalid(Exception):
    """A JWT refused; `str()` is a reason safe to show its sender (no claim values)."""


def unverified(token: str) -> tuple[dict, dict]:
    """Header and claims, before any check: only to find who claims to have signed it."""
    try:
        return jwt.get_unverified_header(token), jwt.decode(
            token, options={"verify_signature": False}
        )
    except (PyJWTError, ValueError, TypeError):
        raise Invalid("not a signed JWT") from None


def _keys(jwks: dict, kid: str | None, algorithm: str) -> Iterator[PyJWK]:
    for key in jwks.get("keys", []):
        if not isinstance(key, dict) or key.get("kty") != _KEY_TYPE[algorithm]:
            continue
        if kid is not None and key.get("kid") != kid:
            continue
        if key.get("alg", algorithm) != algorithm or key.get("use", "sig") != "sig":
            continue
        try:
            yield PyJWK(key, algorithm)  # the key bound to the allowed algorithm
        except PyJWTError:
            continue


def verify(
    token: str,
    jwks: dict,
    *,
    audience: str,
    issuer: str,
    require: tuple[str, ...] = ("iss", "aud", "exp", "jti"),
    leeway: int = 0,
) -> dict:
    """The claims of a JWT signed by a key of `jwks`, for `audience`, from `issuer`."""
    header, _ = unverified(token)
    algorithm = header.get("alg")
    if algorithm not in JWT_ALGORITHMS:
        raise Invalid(f"algorithm not accepted: use one of {', '.join(JWT_ALGORITHMS)}")
    keys = list(_keys(jwks, header.get("kid"), algorithm))
    if not keys:
        raise Invalid("no registered key matches the JWT's kid and algorithm")
    for key in keys:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer,
                leeway=leeway,
                options={"require": list(require)},
            )
        except jwt.InvalidSignatureError:
            continue  # another key of the same kid (none normally): try it
        except jwt.ExpiredSignatureError:
            raise Invalid("expired") from None
        except jwt.InvalidAudienceError:
            raise Invalid("wrong audience (aud)") from None
        except jwt.InvalidIssuerError:
            raise Invalid("wrong issuer (iss)") from None
        except jwt.MissingRequiredClaimError as missing:
            raise Invalid(f"missing claim {missing.claim}") from None
        except PyJWTError:
            raise Invalid("invalid JWT") from None
    raise Invalid("signature not verified by any registered key")


def verify_once(token: str, jwks: dict, *, audience: str, issuer: str,
                require: tuple[str, ...], replay_scope: str) -> dict:  # fmt: skip
    """`verify`, then: `exp` at most LIFETIME ahead, and a `jti` this party (`replay_scope`)
    never used before, recorded until `exp` (SeenJwt: once on any worker)."""
    claims = verify(token, jwks, audience=audience, issuer=issuer, require=require,
                    leeway=CLOCK_SKEW)  # fmt: skip
    if not isinstance(claims["exp"], int | float):
        raise Invalid("exp is not a time")
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    if expires > datetime.now(UTC) + LIFETIME + timedelta(seconds=CLOCK_SKEW):
        raise Invalid("exp is more than five minutes ahead")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise Invalid("jti must be a string of at most 255 characters")
    if not SeenJwt.first_use(replay_scope, jti, expires):
        raise Invalid("jti already used (a replayed JWT)")
    return claims
