import pytest

from patients.models import Scope, SmartClient

from .keys import KeyPair


@pytest.fixture(scope="session")
def rsa_key() -> KeyPair:
    return KeyPair("RSA", "rsa-1")


@pytest.fixture(scope="session")
def ec_key() -> KeyPair:
    return KeyPair("EC", "ec-1")


@pytest.fixture(scope="session")
def stranger_key() -> KeyPair:
    """A key nobody registered, under the same kid as the client's."""
    return KeyPair("RSA", "rsa-1")


@pytest.fixture
def smart_a(clinic_a, rsa_key, ec_key) -> SmartClient:
    jwks = {"keys": [rsa_key.public_jwk, ec_key.public_jwk]}
    return SmartClient.register(clinic_a, "Backend of A", jwks, scopes=[Scope.READ])


@pytest.fixture(autouse=True)
def token_rate(settings):
    """These tests ask for many tokens in a minute from one address: out of the limit's
    way (the limit's own test sets it low, from an address of its own)."""
    settings.SMART_TOKEN_RATE = 10_000
