"""Webhook URLs turned against the hospital (SSRF), tried as an integration and as staff
would, on loopback only: registrations of internal addresses in every spelling, a name
that resolves to loopback, a receiver that redirects to another loopback port, a
receiver that trickles its answer, and the delivery log read as a port scanner."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from followup import outbound
from followup.delivery import webhooks
from followup.models import WebhookDelivery, WebhookEndpoint
from patients.models import Role
from tests.api import post
from tests.conftest import make_staff

from .test_webhooks import Receiver, make_alert


@pytest.fixture
def receiver(settings):
    Receiver.allow(settings)
    receiver = Receiver()
    yield receiver
    receiver.stop()


REFUSED = [
    "https://127.0.0.1/hooks",
    "https://10.0.0.1:6379/",
    "https://192.168.1.10/",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]:5432/",
    "https://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "https://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, mapped and written in hex
    "https://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "https://[fe80::1]/",
    "https://[fd00::1]/",
    "https://2130706433/",  # 127.0.0.1 in decimal
    "https://0177.0.0.1/",  # octal
    "https://0x7f.0.0.1/",  # hex
    "https://127.1/",  # short form
    "https://0.0.0.0:8000/",
    "https://224.0.0.1/",
    "https://localhost/admin/",  # a name that resolves to loopback (/etc/hosts)
]


@pytest.mark.parametrize("url", REFUSED)
def test_a_registration_of_an_internal_address_is_refused(hooks_a, url):
    response = post(hooks_a, "/api/v1/webhooks/", {"url": url})

    assert response.status_code == 400, response.content
    assert "url" in response.json()
    assert "refused" in str(response.json()["url"])
    assert not WebhookEndpoint.objects.exists()


def test_a_name_that_resolves_to_loopback_is_refused(hooks_a, monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["8.8.8.8", "127.0.0.1"])

    response = post(hooks_a, "/api/v1/webhooks/", {"url": "https://ehr.example.test/hooks"})

    assert response.status_code == 400
    assert "private address" in str(response.json()["url"])


def test_plain_http_is_refused_unless_allowed(hooks_a, monkeypatch, settings):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["93.184.215.14"])
    url = "http://ehr.example.test/hooks"

    assert post(hooks_a, "/api/v1/webhooks/", {"url": url}).status_code == 400
    settings.WEBHOOK_ALLOW_HTTP = True
    assert post(hooks_a, "/api/v1/webhooks/", {"url": url}).status_code == 201


def test_allowing_private_networks_never_allows_the_metadata_service(hooks_a, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True

    assert post(hooks_a, "/api/v1/webhooks/", {"url": "https://127.0.0.1/"}).status_code == 201
    for url in ("https://169.254.169.254/", "https://[fe80::1]/", "https://0.0.0.0/"):
        response = post(hooks_a, "/api/v1/webhooks/", {"url": url})
        assert response.status_code == 400, url


def test_the_admin_form_refuses_an_internal_address(clinic_a):
    browser = Client()
    browser.force_login(make_staff("mona", clinic_a, Role.MANAGER))

    response = browser.post("/admin/followup/webhookendpoint/add/", {
        "clinic": clinic_a.pk, "url": "https://[::ffff:10.0.0.1]:6379/", "active": "on",
        "log-TOTAL_FORMS": "0", "log-INITIAL_FORMS": "0",
    })  # fmt: skip

    assert response.status_code == 200  # the form again, with its error
    assert "refused: private address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


# Delivery checks again, on the address it connects to: a row written around the
# registration's check (the shell, an old row, a name whose address changed) gets nothing.


def test_delivery_refuses_a_private_address_whatever_the_row_says(clinic_a, receiver, settings):
    receiver.answer = 200
    receiver.start()
    endpoint = WebhookEndpoint.objects.create(clinic=clinic_a, url=receiver.url)
    make_alert(clinic_a)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False

    assert webhooks.deliver() == 0

    assert receiver.calls == []
    [attempt] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert attempt.error == "refused: private address"


def test_the_name_is_resolved_once_and_that_address_is_the_one_connected_to(
    clinic_a, receiver, monkeypatch
):
    """DNS rebinding: a second lookup would answer another address (127.0.0.2 here, where
    nothing listens: an attacker's would be internal). There is none."""
    receiver.answer = 200
    receiver.start()
    answers = iter([["127.0.0.1"], ["127.0.0.2"], ["127.0.0.2"]])
    lookups = []

    def rebinding(host, port):
        lookups.append(host)
        return next(answers)

    monkeypatch.setattr(outbound, "resolve", rebinding)
    url = f"http://rebind.example.test:{receiver.port}/hooks"
    WebhookEndpoint.objects.create(clinic=clinic_a, url=url)
    make_alert(clinic_a)

    assert webhooks.deliver() == 1
    assert lookups == ["rebind.example.test"]
    assert receiver.calls[0]["headers"]["Host"] == f"rebind.example.test:{receiver.port}"


class AnyMethod(Receiver):
    """A receiver that records every method (a redirect followed by a client may be a GET)
    and answers `self.answer` with `self.headers`."""

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                server.calls.append({"method": self.command, "path": self.path,
                                     "headers": dict(self.headers)})  # fmt: skip
                self.send_response(server.answer)
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = answer

            def log_message(self, *args) -> None:
                pass

        self.headers: dict = getattr(self, "headers", {})
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_redirect_to_another_loopback_address_is_not_followed(clinic_a, settings):
    Receiver.allow(settings)  # the receivers live on loopback: the redirect is the attack
    inside, front = AnyMethod(), AnyMethod()
    inside.answer = 200
    front.answer, front.headers = 302, {"Location": f"http://127.0.0.1:{inside.port}/admin/"}
    for server in (inside, front):
        server.start()
    try:
        endpoint = WebhookEndpoint.objects.create(clinic=clinic_a, url=front.url)
        make_alert(clinic_a)

        assert webhooks.deliver() == 0
    finally:
        inside.stop()
        front.stop()

    assert len(front.calls) == 1
    assert inside.calls == []
    [attempt] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert (attempt.status_code, attempt.delivered) == (302, False)
    assert "not followed" in attempt.error


class Trickler:
    """Accepts, then sends its answer one byte every `every` seconds, for `lasting` s."""

    def __init__(self, every: float = 0.3, lasting: float = 8.0) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.every, self.lasting = every, lasting
        self.stopped = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self.trickle, args=(sock,), daemon=True).start()

    def trickle(self, sock: socket.socket) -> None:
        answer = b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"." * 200 + b"\r\n\r\n"
        ends = time.monotonic() + self.lasting
        with sock:
            for byte in answer:
                if self.stopped.is_set() or time.monotonic() > ends:
                    return
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return  # the client hung up: what the deadline is for
                time.sleep(self.every)

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def trickler(settings):
    Receiver.allow(settings)
    settings.WEBHOOK_TIMEOUT = 1
    trickler = Trickler()
    yield trickler
    trickler.stop()


def test_a_receiver_that_trickles_its_answer_is_cut_at_the_deadline(clinic_a, trickler):
    endpoint = WebhookEndpoint.objects.create(clinic=clinic_a, url=trickler.url)
    make_alert(clinic_a)

    started = time.monotonic()
    assert webhooks.deliver() == 0
    took = time.monotonic() - started

    assert took < 2.5, f"held {took:.1f} s by a receiver trickling one byte every 0.3 s"
    [attempt] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert (attempt.error, attempt.delivered) == ("timeout", False)


def test_the_delivery_log_says_no_more_than_a_generic_reason(clinic_a, settings, monkeypatch):
    """A port scanner would read the socket's error text; the log says what kind only.
    (The metadata address comes from a patched resolver: nothing leaves loopback, even
    on code that would connect to it.)"""
    Receiver.allow(settings)
    closed = Receiver()  # a free port on loopback, nobody listening
    WebhookEndpoint.objects.create(clinic=clinic_a, url=closed.url)
    WebhookEndpoint.objects.create(clinic=clinic_a, url="http://metadata.example.test/latest/")
    monkeypatch.setattr(
        outbound, "resolve", lambda host, port: ["169.254.169.254"] if "example" in host
        else ["127.0.0.1"]
    )  # fmt: skip
    make_alert(clinic_a)

    webhooks.deliver()

    errors = sorted(WebhookDelivery.objects.values_list("error", flat=True))
    assert errors == ["connection refused", "refused: special-purpose address"]
