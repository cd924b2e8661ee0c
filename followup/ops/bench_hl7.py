"""The HL7 figures of `manage.py bench` (`--figures hl7`): the real listener on a free
loopback port against the bench's database, ORU^R01 messages sent over MLLP, each one's
ACK awaited before the next (one connection; then 8 connections at once), and the
refresh the workers would then run; beside the same exams through the bulk API.

The listener commits (it is another process), so nothing it writes can be rolled back:
each run is undone afterwards instead (`undo`): its exams, its messages, the alerts the
refresh raised from them deleted, the surgeries refreshed back. The audit trail
(pghistory events) of those writes stays, as it would for any write; and the listener's
nudges (one refresh task per message) are left in the broker's queue for a worker, which
finds them done.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial

from django.conf import settings

from followup.models import Alert, Hl7Message, Hl7Source, Hl7Status, SurgeryPlan
from imaging.models import ImagingExam
from patients.models import Clinic, Patient, Surgery

from . import bench_measure as measure
from .serving import ROOT, database_url

FACILITY = "BENCH-RIS"
START_TIMEOUT = 30  # seconds
SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"
HL7_MODALITY = {"XR": "CR"}  # what a RIS sends for a radiograph


class Listener:
    """`with Listener() as listener: send(listener.port, ...)`: `manage.py hl7_listener`
    on a free loopback port, one process per core (HL7_PROCESSES)."""

    def __init__(self, workers: int = 8, processes: int = os.cpu_count() or 1) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL}
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "hl7_listener", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(workers),
             "--processes", str(processes)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"The HL7 listener did not start (exit {self.process.poll()}).")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> "Listener":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def source_for(clinic: Clinic) -> Hl7Source:
    source, _ = Hl7Source.objects.update_or_create(
        facility=FACILITY, defaults={"clinic": clinic, "name": "manage.py bench"}
    )
    return source


def messages(records: list[dict], run: str) -> list[bytes]:
    """One ORU^R01 per exam record (the bulk API's records), as a RIS sends it."""
    mrns = dict(
        Patient.objects.filter(pk__in={r["patient"] for r in records}).values_list("pk", "mrn")
    )
    framed = []
    for n, record in enumerate(records):
        accession = record["accession_number"]
        performed = datetime.fromisoformat(record["performed_at"]).strftime("%Y%m%d%H%M%S%z")
        modality = HL7_MODALITY.get(record["modality"], record["modality"])
        segments = [
            f"MSH|^~\\&|RIS|{FACILITY}|FOLLOWUP|SPINE|20260301101500||ORU^R01^ORU_R01|"
            f"{run}-{n:06d}|P|2.5.1",
            f"PID|1||{mrns[record['patient']]}^^^HOSP^MR||Bench^Patient||19600412|F",
            "PV1|1|O",
            f"ORC|RE|PL{accession}|{accession}",
            f"OBR|1|PL{accession}|{accession}|XRLS^XR lumbar spine^L|||{performed}"
            + "|" * 16 + f"|{modality}|F",
            *(
                f"OBX|{i}|ST|{f['code']}^{f['code']}^SPINEFU|{f.get('level', '')}|"
                f"{_text(f['value'])}||||||F" + ("|" * 8 + f"|{f['side']}" if f.get("side") else "")
                for i, f in enumerate(record["findings"], start=1)
            ),
        ]  # fmt: skip
        framed.append(SB + "\r".join(segments).encode() + b"\r" + EB + CR)
    return framed


def _text(value) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    return str(value)


def send_all(port: int, framed: list[bytes], connections: int = 1) -> list[str]:
    """Send the messages over `connections` connections at once (each sequentially, the
    next after the previous one's ACK); returns the ACK codes (MSA-1)."""
    shares = [framed[i::connections] for i in range(connections)]
    with ThreadPoolExecutor(connections) as pool:
        return [code for codes in pool.map(lambda s: _send(port, s), shares) for code in codes]


def _send(port: int, framed: list[bytes]) -> list[str]:
    codes = []
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for frame in framed:
            conn.sendall(frame)
            answer = b""
            while not answer.endswith(EB + CR):
                chunk = conn.recv(65536)
                if not chunk:
                    raise RuntimeError("The HL7 listener closed the connection.")
                answer += chunk
            codes.append(_msa(answer))
    return codes


def _msa(answer: bytes) -> str:
    for segment in answer.strip(SB + EB + CR).decode("utf-8", "replace").split("\r"):
        if segment.startswith("MSA|"):
            return segment.split("|")[1]
    return "?"


def recorded(source: Hl7Source) -> int:
    """The source's messages processed into a record (not ignored, not refused)."""
    return Hl7Message.objects.filter(source=source, status=Hl7Status.PROCESSED).count()


def undo(source: Hl7Source, records: list[dict], alerts_before: int) -> None:
    """What a run committed, deleted (the surgeries are refreshed back by the caller):
    only the alerts of the records' patients, raised since the run began, so that nothing
    another process wrote meanwhile in the same database is touched."""
    patients = {record["patient"] for record in records}
    Alert.objects.filter(pk__gt=alerts_before, patient_id__in=patients).delete()
    ImagingExam.objects.filter(
        clinic_id=source.clinic_id, accession_number__in=[r["accession_number"] for r in records]
    ).delete()
    Hl7Message.objects.filter(source=source).delete()


def measure_figures(bench, token: str) -> None:
    """The ingest's exams as ORU^R01 messages to the real listener (followup/ops/
    py): one connection, each message's ACK before the next; then the same
    over 8 connections; each followed by the refresh the workers would run. The floor
    of both: the same exams through the bulk API (as the ingest figure)."""
    records = bench._exam_records()
    patients = {record["patient"] for record in records}
    theirs = list(
        Surgery.objects.filter(patient_id__in=patients).order_by("pk").values_list(
            "pk", flat=True
        )
    )  # fmt: skip
    source = source_for(bench.clinic)
    api = bench._api(token)
    rates = {1: [], 8: []}
    floors, touched = [], 0
    try:
        with Listener(workers=8) as listener:
            for repetition in range(bench.repeat):
                for connections in rates:
                    # Committed by the listener: undone after, not rolled back.
                    measure.refresh_all(theirs)
                    alerts_before = Alert.objects.order_by("-pk").values_list(
                        "pk", flat=True
                    ).first() or 0  # fmt: skip
                    framed = messages(records, f"B{repetition}C{connections}")
                    try:
                        sent, codes = measure.timed(
                            partial(send_all, listener.port, framed, connections)
                        )
                        if set(codes) != {"AA"}:
                            raise RuntimeError(f"HL7 messages refused: {sorted(set(codes))}")
                        # AA is also a message with nothing to record: each made its exam.
                        if recorded(source) != len(records):
                            raise RuntimeError("HL7 messages accepted without their exam.")
                        stale = list(
                            SurgeryPlan.objects.filter(stale_since__isnull=False)
                            .order_by("pk")
                            .values_list("pk", flat=True)
                        )
                        work, _ = measure.timed(partial(measure.refresh_all, stale))
                        touched = len(stale)
                        rates[connections].append(len(records) / (sent + work))
                    finally:
                        undo(source, records, alerts_before)
                        measure.refresh_all(theirs)
                with measure.rolled_back():
                    measure.refresh_all(theirs)
                    post, response = measure.timed(
                        lambda: api.post("/api/v1/exams/bulk/", {"records": records}, format="json")
                    )
                    if response.status_code != 200 or response.json()["errors"]:
                        raise RuntimeError(f"Bulk ingest refused: {response.status_code}")
                    stale = list(
                        SurgeryPlan.objects.filter(stale_since__isnull=False).values_list(
                            "pk", flat=True
                        )
                    )
                    work, _ = measure.timed(partial(measure.refresh_all, stale))
                    floors.append(len(records) / (post + work))
    finally:
        source.delete()
    for name, connections in (("hl7_sequential", 1), ("hl7_8_connections", 8)):
        bench.results[name] = measure.figure(
            "exams/s", rates[connections], floors, slower_is="lower", exams=len(records),
            connections=connections, surgeries=touched,
        )  # fmt: skip
