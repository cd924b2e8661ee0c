"""A bounded load run on loopback: N clients for S seconds against gunicorn, then a check
that the database holds exactly what the clients were told was saved.

    python manage.py loadtest --clients 50 --seconds 60

(followup/management/commands/loadtest.py reads the options and calls `run`.)

Without --url it starts gunicorn itself (as the Procfile does: 2 workers x 4 threads) on
a free port of 127.0.0.1, against the configured DATABASE_URL and REDIS_URL, and stops
it at the end. Each run works in a clinic of its own (`load-<hex>`), left in place for
inspection: run it against a scratch database, never a clinic's.

Clients mix reads (50%), new exams with findings (30%), new patients (10%) and replays
of an exam already saved with the same Idempotency-Key (10%). A write that gets no
answer, a 5xx, a 409 or a 429 is retried with the same key and body, a bounded number of
times. Exit status 1 when any answer was a 5xx (unless --allow-5xx) or when the database
and the clients' ledger disagree.
"""

import json
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import requests
from django.db import connections
from django.utils import timezone

from imaging.models import ImagingExam
from patients.models import ApiClient, Clinic, Patient, Surgery

from .serving import Gunicorn

ATTEMPTS = 6  # per logical request
TIMEOUT = 30  # seconds per HTTP request
RETRY = {409, 429, 500, 502, 503, 504}
FINDINGS = [
    ("bridging", "partial", "L4-L5", ""), ("bridging", "none", "L5-S1", ""),
    ("screw_lucency_mm", 1.5, "L5", "left"), ("screw_lucency_mm", 0.5, "L4", "right"),
    ("rod_fracture", False, "", "left"), ("pars_fracture", False, "L3", "left"),
]  # fmt: skip


@dataclass
class Ledger:
    """What one client was told: saved (with the id), or never answered for sure."""

    exams: dict[str, tuple[int, dict]] = field(default_factory=dict)  # accession -> (id, body)
    exams_in_doubt: dict[str, dict] = field(default_factory=dict)
    patients: dict[str, int] = field(default_factory=dict)  # mrn -> id
    patients_in_doubt: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)  # unexpected 4xx: a client bug
    replays_wrong: int = 0
    calls: list[tuple[float, float, str, str]] = field(default_factory=list)  # start, s, kind, st


class Client(threading.Thread):
    def __init__(self, number: int, url: str, token: str, patients: list[tuple[int, str]],
                 deadline: float, started: float, max_requests: int) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.number, self.url, self.patients = number, url, patients
        self.deadline, self.started, self.max_requests = deadline, started, max_requests
        self.random = random.Random(number)
        self.ledger = Ledger()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.serial = 0

    def run(self) -> None:
        try:
            while time.monotonic() < self.deadline and len(self.ledger.calls) < self.max_requests:
                self.one()
        finally:
            self.session.close()

    def one(self) -> None:
        roll = self.random.random()
        if roll < 0.3:
            self.post_exam()
        elif roll < 0.4:
            self.post_patient()
        elif roll < 0.5 and self.ledger.exams:
            self.replay()
        else:
            self.read()

    def call(self, kind: str, method: str, path: str, **kwargs) -> requests.Response | None:
        """One logical request, retried; None when it never got a definitive answer."""
        for attempt in range(ATTEMPTS):
            begun = time.monotonic()
            try:
                response = self.session.request(method, self.url + path, timeout=TIMEOUT, **kwargs)
                status = str(response.status_code)
            except requests.RequestException as error:
                response, status = None, type(error).__name__
            self.ledger.calls.append((begun - self.started, time.monotonic() - begun, kind, status))
            if response is not None and response.status_code not in RETRY:
                return response
            if time.monotonic() > self.deadline + 15:
                break  # the run is over; what is still unanswered stays in doubt
            time.sleep(min(0.1 * 2**attempt, 2) * (0.5 + self.random.random()))
        return None

    def post(self, kind: str, path: str, key: str, body: dict) -> requests.Response | None:
        return self.call(kind, "POST", path, json=body, headers={"Idempotency-Key": key})

    def post_exam(self) -> None:
        patient_id, _ = self.random.choice(self.patients)
        self.serial += 1
        accession = f"L{self.number}-{self.serial}-{uuid.uuid4().hex[:6]}"
        sites = self.random.sample(FINDINGS, self.random.randint(1, 3))
        performed = timezone.now() - timedelta(days=self.random.randint(1, 60))
        body = {
            "patient": patient_id, "modality": "XR", "performed_at": performed.isoformat(),
            "accession_number": accession,
            "findings": [{"code": c, "value": v, "level": lv, "side": s} for c, v, lv, s in sites],
        }  # fmt: skip
        key = f"exam-{accession}"
        response = self.post("write", "/api/v1/exams/", key, body)
        if response is None:
            self.ledger.exams_in_doubt[accession] = body
        elif response.status_code in (200, 201):
            self.ledger.exams[accession] = (response.json()["id"], body | {"key": key})
        else:
            self.ledger.refused.append(f"POST exam {response.status_code}: {response.text[:200]}")

    def post_patient(self) -> None:
        self.serial += 1
        mrn = f"L{self.number}-P{self.serial}-{uuid.uuid4().hex[:6]}"
        body = {"mrn": mrn, "family_name": f"Load{self.number}", "given_name": str(self.serial)}
        response = self.post("write", "/api/v1/patients/", f"patient-{mrn}", body)
        if response is None:
            self.ledger.patients_in_doubt.add(mrn)
        elif response.status_code in (200, 201):
            self.ledger.patients[mrn] = response.json()["id"]
        else:
            self.ledger.refused.append(
                f"POST patient {response.status_code}: {response.text[:200]}"
            )

    def replay(self) -> None:
        """A client that lost an answer sends the same request again: same answer, no copy."""
        accession = self.random.choice(list(self.ledger.exams))
        exam_id, body = self.ledger.exams[accession]
        key = body["key"]
        sent = {name: value for name, value in body.items() if name != "key"}
        response = self.post("write", "/api/v1/exams/", key, sent)
        if response is not None and (
            response.status_code not in (200, 201) or response.json()["id"] != exam_id
        ):
            self.ledger.replays_wrong += 1

    def read(self) -> None:
        patient_id, _ = self.random.choice(self.patients)
        roll = self.random.random()
        if roll < 0.4 and self.ledger.exams:
            exam_id, _ = self.ledger.exams[self.random.choice(list(self.ledger.exams))]
            path = f"/api/v1/exams/{exam_id}/"
        elif roll < 0.8:
            path = f"/api/v1/exams/?patient={patient_id}"
        else:
            path = f"/api/v1/patients/{patient_id}/"
        response = self.call("read", "GET", path)
        if response is not None and response.status_code != 200:
            self.ledger.refused.append(f"GET {path} {response.status_code}")


# --- Setting up, serving, checking ------------------------------------------------------


def set_up(patients: int) -> tuple[Clinic, str, list[tuple[int, str]]]:
    """A clinic of its own, an integration client no rate limit stops, operated patients."""
    clinic = Clinic.objects.create(slug=f"load-{uuid.uuid4().hex[:8]}", name="Load run")
    client, token = ApiClient.issue(clinic, "Load run", ["read", "write"])
    ApiClient.objects.filter(pk=client.pk).update(rate_limit_per_minute=10_000_000)
    rows = Patient.objects.bulk_create(
        Patient(clinic=clinic, mrn=f"LOAD-{n}", family_name=f"Load{n}") for n in range(patients)
    )
    operated = timezone.now() - timedelta(days=120)
    Surgery.objects.bulk_create(
        Surgery(clinic=clinic, patient=p, performed_at=operated, procedure="tlif", levels=["L4-L5"],
                hardware=["pedicle_screws", "rods", "interbody_cage"])
        for p in rows
    )  # fmt: skip
    return clinic, token, [(p.pk, p.mrn) for p in rows]


def verify(clinic: Clinic, ledgers: list[Ledger]) -> dict:
    """The database against what the clients were told (and what stayed in doubt)."""
    connections.close_all()  # the server may have restarted under this process too
    told = {acc: entry for ledger in ledgers for acc, entry in ledger.exams.items()}
    doubt = {acc: body for ledger in ledgers for acc, body in ledger.exams_in_doubt.items()}
    stored = {
        exam.accession_number: exam
        for exam in ImagingExam.objects.filter(clinic=clinic).prefetch_related("findings")
    }

    def same_findings(exam: ImagingExam, body: dict) -> bool:
        sent = sorted((f["code"], f["level"], f["side"], json.dumps(f["value"]))
                      for f in body["findings"])  # fmt: skip
        kept = sorted((f.code, f.level, f.side, json.dumps(f.value)) for f in exam.findings.all())
        return sent == kept

    missing = [acc for acc, (pk, _) in told.items() if acc not in stored or stored[acc].pk != pk]
    wrong = [acc for acc, (_, body) in told.items()
             if acc in stored and not same_findings(stored[acc], body)]  # fmt: skip
    unexpected = [acc for acc in stored if acc not in told and acc not in doubt]
    half_written = [
        acc for acc in stored if acc in doubt and not same_findings(stored[acc], doubt[acc])
    ]
    patients_told = {mrn: pk for ledger in ledgers for mrn, pk in ledger.patients.items()}
    patients_doubt = {mrn for ledger in ledgers for mrn in ledger.patients_in_doubt}
    patients_stored = dict(
        Patient.objects.filter(clinic=clinic, mrn__startswith="L").exclude(mrn__startswith="LOAD-")
        .values_list("mrn", "pk")
    )  # fmt: skip
    return {
        "exams_saved": len(told), "exams_in_doubt": len(doubt),
        "exams_in_doubt_stored": len(set(doubt) & set(stored)),
        "exams_missing": missing, "exams_wrong_findings": wrong,
        "exams_unexpected": unexpected, "exams_half_written": half_written,
        "patients_saved": len(patients_told), "patients_in_doubt": len(patients_doubt),
        "patients_missing": [m for m, pk in patients_told.items() if patients_stored.get(m) != pk],
        "patients_unexpected": [m for m in patients_stored
                                if m not in patients_told and m not in patients_doubt],
    }  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summarize(ledgers: list[Ledger], duration: float, clients: int) -> dict:
    calls = [call for ledger in ledgers for call in ledger.calls]
    statuses = Counter(status for _, _, _, status in calls)
    failures = [start + took for start, took, _, status in calls
                if not status.isdigit() or status.startswith("5")]  # fmt: skip
    last_failure = max(failures, default=None)
    ms = {kind: [took * 1000 for _, took, k, _ in calls if k == kind] for kind in ("read", "write")}
    every = ms["read"] + ms["write"]
    return {
        "clients": clients, "seconds": round(duration, 1), "requests": len(calls),
        "throughput_rps": round(len(calls) / duration, 1) if duration else 0.0,
        "p50_ms": round(percentile(every, 0.50), 1), "p95_ms": round(percentile(every, 0.95), 1),
        "p99_ms": round(percentile(every, 0.99), 1),
        "p95_read_ms": round(percentile(ms["read"], 0.95), 1),
        "p95_write_ms": round(percentile(ms["write"], 0.95), 1),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for s, n in statuses.items() if s.startswith("5")),
        "transport_errors": sum(n for s, n in statuses.items() if not s.isdigit()),
        "last_failure_at": round(last_failure, 2) if last_failure is not None else None,
        "answered_after_last_failure": sum(
            1 for start, _, _, status in calls
            if last_failure is not None and start > last_failure and status.startswith("2")
        ),
        "refused": [r for ledger in ledgers for r in ledger.refused][:20],
        "replays_wrong": sum(ledger.replays_wrong for ledger in ledgers),
    }  # fmt: skip


class Refused(Exception):
    """A run this module will not start (a server that is not on loopback)."""


def run(
    *, clients: int, seconds: float, max_requests: int, patients: int, url: str | None = None
) -> dict:
    """Set up a clinic, run the clients against `url` or a gunicorn of its own, then check
    the database against their ledgers. Raises `Refused`, or `serving.ServerError` when
    gunicorn does not start."""
    if url and not url.startswith(("http://127.", "http://localhost")):
        raise Refused("--url must be on loopback (127.0.0.0/8 or localhost).")
    clinic, token, known = set_up(patients)
    # Stopped by SIGTERM too, the run still stops its gunicorn (in the finally below).
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        server = None if url else Gunicorn()
    except BaseException:
        signal.signal(signal.SIGTERM, previous)
        raise
    url = url or server.url
    try:
        started = time.monotonic()
        deadline = started + seconds
        threads = [
            Client(n, url, token, known, deadline, started, max_requests) for n in range(clients)
        ]
        for client in threads:
            client.start()
        for client in threads:
            client.join(seconds + ATTEMPTS * TIMEOUT)
        duration = time.monotonic() - started
    finally:
        if server is not None:
            server.stop()
        signal.signal(signal.SIGTERM, previous)
    ledgers = [client.ledger for client in threads]
    return {"clinic": clinic.slug, **summarize(ledgers, duration, clients),
            "database": verify(clinic, ledgers)}  # fmt: skip


def problems(report: dict, allow_5xx: bool = False) -> list[str]:
    """What makes the run fail: the database and the ledgers disagree, an unexpected
    answer, a 5xx (unless allowed)."""
    found = [name for name, value in report["database"].items()
             if isinstance(value, list) and value]  # fmt: skip
    if report["refused"] or report["replays_wrong"]:
        found.append("unexpected answers")
    if report["server_errors"] and not allow_5xx:
        found.append(f"{report['server_errors']} answer(s) 5xx")
    return found
