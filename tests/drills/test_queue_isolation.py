"""Drill: a slow receiver holds the delivery worker; an urgent notice still goes out.

Real processes on loopback, as the Procfile runs them: one worker per queue (urgent,
refresh, delivery; followup/celery.py), on a private Redis. Two receivers trickle bytes,
one every second, and never finish: an SMTP server for the digests, an HTTP server for
the webhooks. Once both hold the delivery worker's two processes, an abscess is posted
through the API; the refresh worker raises the urgent alert, the urgent worker e-mails
it through another, healthy SMTP server. Measured: from the POST to the notice's arrival.

Before (one queue, one worker of two processes), both processes stayed held by the
receivers and the urgent notice waited behind them until its message expired.
"""

import socket
import threading
import time
import uuid

import pytest

from followup.models import Alert, Email, EmailKind, EmailStatus, Severity, WebhookEndpoint
from followup.tasks import deliver_webhooks, notify_urgent, send_digests
from tests import factories
from tests.followup.conftest_mail import raise_alert, subscriber
from tests.followup.integration.test_webhooks import Receiver
from tests.smtp import SmtpServer

from . import scenario
from .servers import wait_for
from .test_worker_killed import zone_in_daytime

pytestmark = pytest.mark.django_db(transaction=True)

WITHIN = 60  # seconds, from the POST of the exam to the notice in the on-call's mailbox


class Trickler:
    """Accepts connections and sends one byte a second, never a whole line: an SMTP
    greeting or an HTTP answer that never ends. Counts the connections it holds."""

    def __init__(self, trickle: bytes) -> None:
        self.trickle = trickle
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held = 0
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/slow"

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        self.held += 1
        with conn:
            for byte in self.trickle * 1000:
                if self.stopped.wait(1.0):
                    break
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    break
        self.held -= 1

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def receivers(settings):
    Receiver.allow(settings)
    slow_smtp, slow_http = Trickler(b"220 "), Trickler(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    mailbox = SmtpServer()
    mailbox.start()
    yield slow_smtp, slow_http, mailbox
    for server in (slow_smtp, slow_http):
        server.stop()
    mailbox.stop()


def test_an_urgent_notice_goes_out_while_slow_receivers_hold_the_delivery_worker(
    protocols, workers, receivers
):
    slow_smtp, slow_http, mailbox = receivers
    clinic = scenario.clinic("isolated", digest_hour=0)
    clinic.timezone = zone_in_daytime()  # the digest is due all day
    clinic.save()
    oncall = subscriber(clinic, "isolated-oncall")  # digests and urgent notices
    WebhookEndpoint.objects.create(clinic=clinic, url=slow_http.url)
    raise_alert(factories.patient(clinic, mrn="earlier"), Severity.HIGH)  # an event to post

    family = f"drill-{uuid.uuid4().hex[:8]}"
    smtp = {"EMAIL_HOST": "127.0.0.1"}
    workers.start(family, kinds=("delivery",), concurrency=2, **smtp,
                  EMAIL_PORT=str(slow_smtp.port), **Receiver.ENV)  # fmt: skip
    workers.start(family, kinds=("urgent",), **smtp, EMAIL_PORT=str(mailbox.port))
    workers.start(family, kinds=("refresh", "default"))

    # What beat sends: each routed to the delivery queue, where the receivers hold them.
    send_digests.apply_async(ignore_result=True)
    deliver_webhooks.apply_async(ignore_result=True)
    wait_for(lambda: slow_smtp.held and slow_http.held, 90, "both receivers to hold a worker")

    started = time.monotonic()
    api = scenario.integration(clinic)
    for response in scenario.post_through_api(api, clinic, codes=["abscess"]):
        assert response.status_code == 201, response.content
    wait_for(lambda: Alert.objects.filter(clinic=clinic, severity=Severity.URGENT).exists(),
             WITHIN, "the refresh worker to raise the urgent alert")  # fmt: skip
    notify_urgent.apply_async(ignore_result=True)  # beat's every-minute message
    (notice,) = wait_for(lambda: mailbox.received_by(oncall.email), WITHIN, "the notice")
    took = time.monotonic() - started
    print(f"urgent notice {took:.1f}s after the POST, the delivery worker held")  # the docs

    assert "URGENT" in notice["Subject"]
    assert took < WITHIN
    # The delivery worker is still held: its digest has not gone, it was not its turn.
    assert slow_smtp.held
    digest = Email.objects.get(clinic=clinic, kind=EmailKind.DIGEST)
    assert digest.status == EmailStatus.SENDING
    # The worker marks the row sent once the server has accepted the message: just after
    # the mailbox has it, not before (read too early, it is still `sending`).
    urgent = Email.objects.filter(clinic=clinic, kind=EmailKind.URGENT)
    wait_for(lambda: urgent.filter(status=EmailStatus.SENT).exists(), 10, "the notice marked sent")
