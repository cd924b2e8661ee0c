"""Test keys and JWTs, made with PyJWT and cryptography as a SMART client or an EHR would."""

import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


class KeyPair:
    def __init__(self, kind: str, kid: str):
        self.kid = kid
        if kind == "RSA":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.algorithm = "RS384"
            self.public_jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = ec.generate_private_key(ec.SECP384R1())
            self.algorithm = "ES384"
            self.public_jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.public_jwk.update(kid=kid, use="sig", alg=self.algorithm)

    def jwks(self) -> dict:
        return {"keys": [self.public_jwk]}

    def sign(self, claims: dict, algorithm: str | None = None, **header) -> str:
        return jwt.encode(
            claims,
            self.private,
            algorithm=algorithm or self.algorithm,
            headers={"kid": self.kid, "typ": "JWT", **header},
        )


def claims(iss: str, aud: str, sub: str | None = None, lifetime: int = 300, **more) -> dict:
    now = int(time.time())
    return {
        "iss": iss,
        "sub": iss if sub is None else sub,
        "aud": aud,
        "exp": now + lifetime,
        "iat": now,
        "jti": str(uuid.uuid4()),
        **more,
    }
