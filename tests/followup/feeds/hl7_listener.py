"""A real `manage.py hl7_listener` process on a loopback port, against the test database,
and the messages the tests send it with python-hl7's MLLP client."""

import os
import signal
import subprocess
import sys
import threading

from hl7.client import MLLPClient

from tests.smtp import free_port
from tests.worker import ROOT, database_url

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


class ListenerProcess:
    def __init__(self, processes: int = 1, **env: str) -> None:
        self.port = free_port()
        self.processes = processes
        self.env = env
        self.process: subprocess.Popen | None = None
        self.lines: list[bytes] = []

    def start(self) -> "ListenerProcess":
        env = {**os.environ, "DATABASE_URL": database_url(), **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "hl7_listener", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "4", "--processes", str(self.processes)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        for line in self.process.stdout:  # blocks until it listens (or dies)
            self.lines.append(line)
            if b"HL7 listener ready" in line:
                # Read on from then on: a full pipe would block the listener's next log line.
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        raise AssertionError(f"the listener did not start (exit {self.process.wait()})")

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.alive():
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def output(self) -> str:
        """What it printed (complete once it has exited)."""
        if self.process is not None:
            self.process.wait()
        return b"".join(self.lines).decode("utf-8", "replace")


def send(port: int, message: str, encoding: str = "utf-8") -> str:
    """One message over MLLP with python-hl7's client (what `mllp_send` uses); the ACK."""
    with MLLPClient("127.0.0.1", port, encoding) as client:
        client.socket.settimeout(30)
        answer = client.send_message(message)
        while not answer.endswith(EB + CR):  # an ACK larger than one recv
            answer += client.socket.recv(65536)
    return answer.strip(SB + EB + CR).decode("utf-8")


def ack_fields(ack: str) -> dict[str, list[str]]:
    segments = {}
    for segment in ack.replace("\n", "\r").split("\r"):
        if segment:
            fields = segment.split("|")
            segments.setdefault(fields[0], fields)
    return segments


def msa(ack: str) -> tuple[str, str]:
    fields = ack_fields(ack)["MSA"]
    return fields[1], fields[2]
