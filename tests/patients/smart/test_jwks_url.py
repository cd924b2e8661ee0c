"""Parties that publish their keys at a JWK Set URL instead of registering them: fetched
once registered (after the commit), then by the beat's task; a rotated key accepted from
the next fetch on, the old one no longer; a failed fetch keeps the last keys and says
why; an address the service never calls is never called. A real HTTP server on loopback
(outbound requests to loopback allowed for the test, as for the webhook tests)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from django.core.management import call_command
from django.test import Client

from followup import tasks
from patients.models import CdsHooksClient, Role, SmartClient
from tests.conftest import make_staff

from .keys import KeyPair
from .test_smart_backend_services import ask_token, signed


class KeyServer:
    """Serves `answer` (status, body) at any path; counts the requests."""

    def __init__(self, body: dict) -> None:
        self.answer: tuple[int, bytes, dict] = (200, json.dumps(body).encode(), {})
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                status, body, headers = server.answer
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def serve(self, body: dict | bytes, status: int = 200, **headers) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answer = (status, raw, headers)


@pytest.fixture
def key_server(settings, rsa_key):
    settings.WEBHOOK_ALLOW_HTTP = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    server = KeyServer(rsa_key.jwks())
    yield server
    server.http.shutdown()


@pytest.fixture
def by_url(clinic_a, key_server, django_capture_on_commit_callbacks) -> SmartClient:
    with django_capture_on_commit_callbacks(execute=True):
        smart = SmartClient.register(clinic_a, "Publishes its keys", None, jwks_url=key_server.url)
    smart.refresh_from_db()
    return smart


def test_a_client_registered_by_url_has_its_keys_fetched_and_gets_a_token(by_url, key_server,
                                                                           rsa_key):  # fmt: skip
    assert key_server.requests == 1
    assert by_url.jwks == rsa_key.jwks() and by_url.jwks_fetched_at and not by_url.jwks_error
    assert ask_token(by_url, signed(by_url, rsa_key))["status"] == 200


def test_a_rotated_key_is_accepted_from_the_next_fetch_and_the_old_one_no_longer(
    by_url, key_server, rsa_key
):
    rotated = KeyPair("EC", "ec-rotated")
    key_server.serve(rotated.jwks())
    assert ask_token(by_url, signed(by_url, rotated))["status"] == 401  # not fetched yet
    assert tasks.refresh_jwks() == 1
    assert ask_token(by_url, signed(by_url, rotated))["status"] == 200
    assert ask_token(by_url, signed(by_url, rsa_key))["status"] == 401


@pytest.mark.parametrize(
    "answer, reason",
    [
        ((b"oops", 500), "HTTP 500"),
        ((b"", 302), "HTTP 302 (redirects are not followed)"),
        ((b"<html>not keys</html>", 200), "not JSON"),
        ((b"x" * 70_000, 200), "answer larger than"),
        (({"keys": []}, 200), "at least one key"),
        ("private", "Private or symmetric key material"),
    ],
)
def test_a_failed_fetch_keeps_the_last_keys_and_says_why(by_url, key_server, rsa_key, answer,
                                                         reason):  # fmt: skip
    if answer == "private":
        private = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.private, as_dict=True)
        answer = ({"keys": [{**private, "kid": "leaked"}]}, 200)
    body, status = answer
    key_server.serve(body, status, **({"Location": "http://127.0.0.1:1/"} if status == 302 else {}))
    assert tasks.refresh_jwks() == 0
    by_url.refresh_from_db()
    assert reason in by_url.jwks_error
    assert by_url.jwks == rsa_key.jwks()  # the keys of the last fetch that worked
    assert ask_token(by_url, signed(by_url, rsa_key))["status"] == 200


def test_the_cloud_metadata_address_is_never_called(
    clinic_a, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_HTTP = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    with django_capture_on_commit_callbacks(execute=True):
        smart = SmartClient.register(clinic_a, "Metadata", None,
                                     jwks_url="http://169.254.169.254/latest/keys")  # fmt: skip
    smart.refresh_from_db()
    assert smart.jwks == {} and smart.jwks_error.startswith("refused")


def test_a_revoked_client_is_not_fetched_again(by_url, key_server):
    by_url.revoke()
    assert tasks.refresh_jwks() == 0 and key_server.requests == 1


def test_a_cds_hooks_ehr_may_publish_its_keys_too(clinic_a, key_server, rsa_key,
                                                  django_capture_on_commit_callbacks):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        ehr = CdsHooksClient.register(clinic_a, "EHR", "https://ehr.example.org", None,
                                      jwks_url=key_server.url)  # fmt: skip
    ehr.refresh_from_db()
    assert ehr.jwks == rsa_key.jwks()


def test_the_command_registers_by_url_and_says_whether_the_keys_came(
    clinic_a, key_server, rsa_key, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("create_smart_client", "clinic-a", "Nightly", "--jwks-url", key_server.url)
    out = capsys.readouterr().out.strip().splitlines()
    smart = SmartClient.objects.get(client_id=out[-1])
    assert smart.jwks_url == key_server.url
    assert ask_token(smart, signed(smart, rsa_key))["status"] == 200


def test_the_admin_wants_the_keys_or_their_url_not_both_nor_neither(clinic_a, rsa_key,
                                                                    key_server):  # fmt: skip
    browser = Client()
    browser.force_login(make_staff("mona", clinic_a, Role.MANAGER))
    form = {"clinic": clinic_a.pk, "name": "From the admin", "scopes": ["read"]}
    for keys in ({}, {"jwks": json.dumps(rsa_key.jwks()), "jwks_url": key_server.url}):
        answer = browser.post("/admin/patients/smartclient/add/", {**form, **keys})
        assert answer.status_code == 200
        assert "Give either the JWK Set or its URL" in answer.content.decode()
    assert not SmartClient.objects.exists()
    answer = browser.post("/admin/patients/smartclient/add/", {**form, "jwks_url": key_server.url})
    assert answer.status_code == 302
    assert SmartClient.objects.get(name="From the admin").jwks_url == key_server.url
