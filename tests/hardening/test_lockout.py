"""The admin login's lockout (django-axes): failures counted per address and per
username separately, the address being the client's as our trusted proxies saw it.

Before: failures were counted per (username, address) pair, the address from
REMOTE_ADDR. Behind the TLS proxy every client had the proxy's address; and one address
could try any number of usernames, five guesses each."""

import pytest
from django.test import Client

from patients.base.middleware import client_address
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password-1"


@pytest.fixture
def alice(clinic_a):
    user = make_staff("alice", clinic_a)
    user.set_password(PASSWORD)
    user.save()
    return user


def login(username: str, password: str, address: str = "192.0.2.1", forwarded: str = ""):
    extra = {"REMOTE_ADDR": address}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    browser = Client()
    response = browser.post("/admin/login/", {"username": username, "password": password}, **extra)
    return response, "_auth_user_id" in browser.session


def test_five_wrong_passwords_from_five_addresses_lock_the_username(alice):
    for n in range(5):
        login("alice", "wrong", address=f"198.51.100.{n + 1}")
    response, logged_in = login("alice", PASSWORD, address="203.0.113.9")
    assert response.status_code in (403, 429) and not logged_in


def test_one_address_trying_many_usernames_is_locked_out(alice, clinic_a):
    for name in ("bob", "carol", "dave", "erin", "frank"):
        login(name, "guess", address="198.51.100.66")
    response, logged_in = login("alice", PASSWORD, address="198.51.100.66")
    assert response.status_code in (403, 429) and not logged_in
    # Alice herself, elsewhere, is not: her username had no failure.
    response, logged_in = login("alice", PASSWORD, address="203.0.113.9")
    assert response.status_code == 302 and logged_in


def test_behind_the_proxy_the_client_is_locked_out_not_everybody(alice, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for n, name in enumerate(("bob", "carol", "dave", "erin", "frank")):
        # The attacker forges an X-Forwarded-For of its own; the proxy appends the truth.
        login(name, "guess", address=proxy, forwarded=f"203.0.113.{n}, 198.51.100.66")
    response, logged_in = login("alice", PASSWORD, address=proxy, forwarded="198.51.100.66")
    assert response.status_code in (403, 429) and not logged_in
    # Everybody else comes through the same proxy and is not locked out.
    response, logged_in = login("alice", PASSWORD, address=proxy, forwarded="192.0.2.44")
    assert response.status_code == 302 and logged_in


@pytest.mark.parametrize(
    "proxies, remote, forwarded, expected",
    [
        (0, "192.0.2.1", "198.51.100.7", "192.0.2.1"),  # no proxy: the header is the client's
        (1, "10.0.0.2", "198.51.100.7", "198.51.100.7"),
        (1, "10.0.0.2", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # forged entry ignored
        (2, "10.0.0.3", "6.6.6.6, 198.51.100.7, 10.0.0.2", "198.51.100.7"),
        (1, "10.0.0.2", "", "10.0.0.2"),
        (1, "10.0.0.2", "not-an-address", "10.0.0.2"),
        (1, "10.0.0.2", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_is_read_from_the_right(settings, rf, proxies, remote, forwarded,
                                                    expected):  # fmt: skip
    settings.TRUSTED_PROXY_COUNT = proxies
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected
