"""A signed JWT checked against a stored JWK Set, with PyJWT: the algorithm from an allow
list (RS384, ES384; never a symmetric one, never "none"), the key named by the header's
`kid` and of that algorithm's type, then the signature, `exp`, `aud` and `iss` claims.
No cryptography of our own."""

from collections.abc import Iterator

import jwt
from jwt import PyJWK, PyJWTError

from patients.models import JWT_ALGORITHMS

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
