"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, on a free port.

`stop()` then `start()` on the same port simulates an outage and its end; what the
server received is kept, parsed by the `email` package, in `messages`.
"""

import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    # aiosmtpd calls this from its own thread for each accepted message.
    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def start(self) -> None:
        if self._controller is None:
            # A new controller each time: the port is the same, the outage is over.
            self._controller = Controller(self, hostname=self.host, port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def mailer(self) -> dict:
        """The MAILERS entry that sends here."""
        return {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": self.host, "port": self.port, "timeout": 5},
        }

    def received_by(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["To"]]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


def text_and_html(message: EmailMessage) -> tuple[str, str | None]:
    """The plain-text body and the HTML alternative (None when there is none), with the
    wire's CRLF line ends read back as newlines."""
    text = message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(preferencelist=("html",))
    return text, html.get_content().replace("\r\n", "\n") if html is not None else None
