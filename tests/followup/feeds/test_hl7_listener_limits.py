"""The listener under abuse and faults, as a real process: garbage, a 20 MB frame, a
client gone mid-frame, 200 connections, SIGTERM with a message in hand, a kill between
the commit and the ACK, two listeners on one database, and fuzzed frames."""

import contextlib
import os
import signal
import socket
import threading
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followup.models import Hl7Message, Hl7Status
from imaging.models import ImagingExam
from tests.drills.servers import wait_for
from tests.worker import database_url

from . import messages as m
from .hl7_listener import EB, SB, ListenerProcess, msa, send

pytestmark = pytest.mark.django_db(transaction=True)

LIMITS = {"HL7_MAX_FRAME_BYTES": str(1024 * 1024), "HL7_MAX_CONNECTIONS": "50",
          "HL7_IDLE_TIMEOUT": "20"}  # fmt: skip


@pytest.fixture(scope="module")
def limited(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        process = ListenerProcess(**LIMITS).start()
    yield process
    process.stop()


def raw_exchange(port: int, payload: bytes, timeout: float = 30) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        answer = b""
        while not answer.endswith(EB + b"\r"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def code_of(answer: bytes) -> str:
    return msa(answer.strip(SB + EB + b"\r").decode())[0]


def still_serves(process: ListenerProcess) -> None:
    assert process.alive()
    assert msa(send(process.port, m.oru("PING", "NOBODY", "X", "20260201")))[0] == "AA"


def test_garbage_in_a_frame_and_outside_one(limited, clinic):
    assert code_of(raw_exchange(limited.port, SB + b"\x00\xffnot hl7 at all" + EB + b"\r")) == "AR"
    assert code_of(raw_exchange(limited.port, b"hello" + EB + b"\r")) == "AR"
    still_serves(limited)


def test_a_20_mb_frame_is_refused_and_the_listener_lives_on(limited, clinic):
    big = SB + m.msh("BIG-1", "ORU^R01").encode() + b"\rOBX|1|TX|||" + b"x" * (20 << 20)
    with socket.create_connection(("127.0.0.1", limited.port), timeout=60) as sock:
        # Refused before it is all sent: the answer is already waiting.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(big + EB + b"\r")
        answer = sock.recv(65536)
    assert code_of(answer) == "AR"
    assert b"larger than" in answer
    still_serves(limited)
    assert not ImagingExam.objects.exists()


def test_a_client_gone_mid_frame_writes_nothing(limited, operated):
    message = m.oru("MID-1", "M100", "ACC-MID", "20260201").encode()
    with socket.create_connection(("127.0.0.1", limited.port)) as sock:
        sock.sendall(SB + message[: len(message) // 2])
    still_serves(limited)
    assert not ImagingExam.objects.exists()
    assert not Hl7Message.objects.filter(control_id="MID-1").exists()


def test_200_connections_the_excess_is_refused_clearly(limited, clinic):
    socks = [socket.create_connection(("127.0.0.1", limited.port)) for _ in range(200)]
    try:
        refused = 0
        for sock in socks[50:]:
            sock.settimeout(10)
            answer = sock.recv(65536)
            refused += b"Too many connections" in answer and code_of(answer) == "AR"
        assert refused == 150
        # The 50 served ones still answer.
        socks[0].sendall(SB + m.oru("C-1", "NOBODY", "X", "20260201").encode() + EB + b"\r")
        socks[0].settimeout(30)
        assert code_of(socks[0].recv(65536)) == "AA"
    finally:
        for sock in socks:
            sock.close()
    still_serves(limited)


def test_sigterm_finishes_the_message_in_hand(clinic, operated):
    process = ListenerProcess().start()
    message = m.oru("TERM-1", "M100", "ACC-T", "20260201").encode()
    try:
        # The message is held in hand: its transaction waits for the patient's row, locked here.
        with psycopg.connect(database_url()) as holder, \
                psycopg.connect(database_url(), autocommit=True) as watcher:  # fmt: skip
            holder.execute("SELECT id FROM patients_patient WHERE id = %s FOR UPDATE",
                           [operated.pk])  # fmt: skip
            with socket.create_connection(("127.0.0.1", process.port), timeout=60) as sock:
                sock.sendall(SB + message + EB + b"\r")
                wait_for(lambda: _waiting_on_a_lock(watcher), 30, "the message to be in hand")
                process.process.send_signal(signal.SIGTERM)
                sock.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    sock.recv(65536)  # still in hand: no answer before its commit
                assert process.alive()
                holder.rollback()  # the lock goes; the message commits, then its ACK
                sock.settimeout(60)
                answer = sock.recv(65536)
        assert process.stop() == 0
    finally:
        if process.alive():
            process.stop(signal.SIGKILL)
    assert code_of(answer) == "AA"
    assert ImagingExam.objects.filter(accession_number="ACC-T").count() == 1


def _waiting_on_a_lock(conn) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchone()
    return row[0] > 0


def test_killed_between_commit_and_ack_the_retry_lands_once(clinic, operated):
    message = m.oru("KILL-1", "M100", "ACC-K", "20260201")
    dying = ListenerProcess(HL7_DRILL_DIE_BEFORE_ACK="1").start()
    answer = raw_exchange(dying.port, SB + message.encode() + EB + b"\r")
    assert answer == b""  # no ACK: the sender will send it again
    assert dying.stop() == 70
    assert ImagingExam.objects.filter(accession_number="ACC-K").count() == 1  # committed

    replacement = ListenerProcess().start()
    try:
        assert msa(send(replacement.port, message)) == ("AA", "KILL-1")
    finally:
        replacement.stop()
    assert ImagingExam.objects.filter(accession_number="ACC-K").count() == 1
    row = Hl7Message.objects.get(control_id="KILL-1")
    assert (row.status, row.attempts) == (Hl7Status.PROCESSED, 1)


def test_two_listeners_on_one_database_process_a_message_once(limited, operated):
    other = ListenerProcess().start()
    try:
        messages = [m.oru(f"TWO-{n}", "M100", f"ACC-2-{n}", "20260201",
                          results=(m.finding(1, "bridging", "partial", "L4-L5"),))
                    for n in range(10)]  # fmt: skip
        answers = []

        def sender(port):
            for message in messages:
                answers.append(msa(send(port, message)))

        threads = [threading.Thread(target=sender, args=(p,)) for p in (limited.port, other.port)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.stop()
    assert sorted(answers) == sorted([("AA", f"TWO-{n}") for n in range(10)] * 2)
    assert ImagingExam.objects.count() == 10
    assert Hl7Message.objects.filter(control_id__startswith="TWO-").count() == 10


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:  # the parent's pid, after the state
                found.add(int(stat.parent.name))
    return found


def _listening_sockets(port: int) -> int:
    """Sockets in LISTEN state on this loopback port (/proc/net/tcp)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for r in rows if r.split()[1].endswith(f":{port:04X}") and r.split()[3] == "0A")


def test_listener_processes_share_the_port_and_one_that_dies_is_replaced(clinic, operated):
    process = ListenerProcess(processes=2).start()
    try:
        wait_for(lambda: len(_children(process.process.pid)) == 2, 30, "two listener processes")
        wait_for(lambda: _listening_sockets(process.port) == 2, 30, "both on the one port")
        messages = [m.oru(f"PR-{n}", "M100", f"ACC-PR-{n}", "20260201") for n in range(24)]
        answers = []

        def sender(share):
            answers.extend(msa(send(process.port, message)) for message in share)

        threads = [threading.Thread(target=sender, args=(messages[i::8],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == sorted(("AA", f"PR-{n}") for n in range(24))
        assert ImagingExam.objects.filter(accession_number__startswith="ACC-PR-").count() == 24

        first = _children(process.process.pid)
        os.kill(min(first), signal.SIGKILL)

        def replaced() -> bool:
            now = _children(process.process.pid)
            return len(now) == 2 and len(now - first) == 1

        wait_for(replaced, 30, "a new listener process")
        wait_for(lambda: _listening_sockets(process.port) == 2, 30, "the new one listening")
        still_serves(process)
        children = _children(process.process.pid)
        assert process.stop() == 0
    finally:
        if process.alive():
            process.stop(signal.SIGKILL)
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)  # every one stopped


FRAMES = st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda body: SB + body + EB + b"\r", st.binary(max_size=2000)),
    st.builds(
        lambda cut, junk: SB + m.oru("FZ", "M100", "ACC-FZ", "20260201").encode()[:cut] + junk
        + EB + b"\r",
        st.integers(0, 400), st.binary(max_size=50),
    ),
    st.builds(
        lambda text: SB + m.oru("FZ", "M100", "ACC-FZ", "20260201", results=(
            m.finding(1, "bridging", text, "L4-L5"),)).encode() + EB + b"\r",
        st.text(max_size=30),
    ),
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=FRAMES)
def test_fuzzed_frames_never_crash_nor_half_write(limited, operated, frame):
    try:
        with socket.create_connection(("127.0.0.1", limited.port), timeout=5) as sock:
            sock.sendall(frame)
            sock.shutdown(socket.SHUT_WR)
            sock.recv(65536)
    except (TimeoutError, ConnectionError):
        pass
    assert limited.alive()
    for exam in ImagingExam.objects.filter(accession_number="ACC-FZ"):
        # Written whole or not at all: an exam from a fuzzed frame has its one finding.
        assert exam.findings.count() in (0, 1)
        exam.delete()
    Hl7Message.objects.all().delete()
