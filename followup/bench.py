"""The benchmark behind `manage.py bench`: each figure beside its floor.

A figure is what the service does, through its real code path: the sweep, the bulk
exam API with the refresh it triggers, the API reads under concurrency, the morning
digests through SMTP. Its floor is the hand-written SQL that makes the same state
change with nothing around it, timed in the same run on the same data. The ratio of
the two is the headline: a slower or busier machine moves both, the ratio says what
the code costs above the database's own work.

Every state change runs in a transaction that is rolled back, so each repetition
starts from the same data and the database is left as it was found. Only the
benchmark's own fixtures stay: one patient with 300 exams, and an API client that is
deleted at the end.
"""

import http.client
import json
import logging
import os
import random
import smtplib
import socket
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from imaging.models import Finding, ImagingExam
from patients.models import ApiClient, Clinic, Membership, Patient, ProcedureFamily, Surgery

from . import mailing, refresh, serving, sweep, tasks
from .cohort import Generator
from .models import Alert, AlertStatus, Checkpoint, Subscription
from .models.checkpoints import PENDING

SEED = 1
TODAY = date(2026, 11, 1)  # fixed, so that a seed gives the same cohort on any day
FIGURES = ("sweep", "ingest", "read", "digest")
TIMELINE_EXAMS = 300
EXAMS_PER_PATIENT = 5  # a bulk ingest is a backlog: a few exams for each patient
CLIENT_NAME = "benchmark"
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

# What the figures must reach (2-core machine, median; reads are p95).
TARGETS = {
    "sweep": {"max": 10.0, "max_ratio": 3.0},
    "ingest": {"min": 1000.0, "max_ratio": 10.0},
    "timeline": {"max": 50.0},
    "alerts_list": {"max": 50.0},
    "checkpoints_list": {"max": 50.0},
    "alerts_open": {"max": 50.0},
    "checkpoints_overdue": {"max": 50.0},
    "digest": {"max": 30.0},
}


# --- The cohort -----------------------------------------------------------------------


def cohort_patients(seed: int) -> int:
    return Patient.objects.filter(mrn__startswith=f"C{seed}-").count()


def cohort_clinics(seed: int):
    return Clinic.objects.filter(slug__startswith=f"cohort-{seed}-").order_by("pk")


def ensure_cohort(patients: int, seed: int = SEED, today: date = TODAY, progress=None) -> int:
    """Generate the patients the cohort lacks; returns how many that was."""
    have = cohort_patients(seed)
    if have >= patients:
        return 0
    generator = Generator(seed=seed, today=today)
    if progress is not None:
        generator.progress = progress
    generator.run(patients, start=have)
    execute("ANALYZE")  # fresh statistics: the plans measured are those of a settled database
    return patients - have


# --- Measuring ------------------------------------------------------------------------


@contextmanager
def rolled_back():
    """Whatever happens inside is undone: each repetition starts from the same state."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def timed(work: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def figure(unit: str, runs: list[float], floor_runs: list[float], slower_is="higher", **extra):
    """A figure's median beside its floor's; the ratio says how far from the floor (>= 1)."""
    median, floor = statistics.median(runs), statistics.median(floor_runs)
    ratio = median / floor if slower_is == "higher" else floor / median
    return {
        "unit": unit,
        "median": median,
        "runs": runs,
        "floor": {"median": floor, "runs": floor_runs},
        "ratio": ratio,
        **extra,
    }


def execute(sql: str, params=None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


# --- The floors: the same state change in hand-written SQL ------------------------------

SWEEP_FLOOR = """
WITH due AS (
    UPDATE followup_checkpoint SET overdue_since = %(now)s
    WHERE satisfied_by_id IS NULL AND waived_at IS NULL AND overdue_since IS NULL
      AND kind <> 'milestone' AND overdue_at <= %(now)s
    RETURNING id, clinic_id, patient_id, surgery_id, kind, code, label, modalities, due_at,
              overdue_severity
)
INSERT INTO followup_alert (clinic_id, patient_id, surgery_id, checkpoint_id, code, subject,
                            severity, status, message, created_at, updated_at,
                            resolution_note, auto_resolved)
SELECT due.clinic_id, due.patient_id, due.surgery_id, due.id,
       CASE due.kind WHEN 'workup' THEN 'workup_overdue' ELSE 'checkpoint_overdue' END,
       'checkpoint:' || due.id, due.overdue_severity, 'open',
       format('%%s (%%s) was due by the end of %%s (%%s); no fitting exam (%%s) has been '
              'recorded.', due.label, due.code,
              ((due.due_at AT TIME ZONE c.timezone) - interval '1 microsecond')::date,
              c.timezone, array_to_string(due.modalities, '/')),
       %(now)s, %(now)s, '', false
FROM due JOIN patients_clinic c ON c.id = due.clinic_id
ON CONFLICT DO NOTHING
"""

EXAM_COLUMNS = (
    "clinic_id, patient_id, surgery_id, modality, contrast, performed_at, views, "
    "accession_number, study_instance_uid, effective_dose_msv, report, created_at, updated_at"
)

TIMELINE_FLOOR = [
    "SELECT * FROM patients_surgery WHERE patient_id = %(id)s",
    "SELECT * FROM followup_checkpoint WHERE patient_id = %(id)s",
    "SELECT * FROM imaging_imagingexam WHERE patient_id = %(id)s",
    "SELECT f.* FROM imaging_finding f JOIN imaging_imagingexam e ON e.id = f.exam_id "
    "WHERE e.patient_id = %(id)s",
    "SELECT * FROM patients_clinicalevent WHERE patient_id = %(id)s",
    "SELECT * FROM patients_assessment WHERE patient_id = %(id)s",
    "SELECT * FROM followup_alert WHERE patient_id = %(id)s",
]
LIST_FLOOR = "SELECT * FROM {table} WHERE clinic_id = %(clinic)s ORDER BY id DESC LIMIT 51"
# The worklists: the same pages filtered as `?status=open` and `?status=overdue` filter them.
OPEN_ALERTS_FLOOR = (
    "SELECT * FROM followup_alert WHERE clinic_id = %(clinic)s AND (status = 'open' OR "
    "(status = 'snoozed' AND snoozed_until <= now())) ORDER BY id DESC LIMIT 51"
)
OVERDUE_FLOOR = (
    "SELECT * FROM followup_checkpoint WHERE clinic_id = %(clinic)s AND kind <> 'milestone' "
    "AND waived_at IS NULL AND satisfied_by_id IS NULL AND overdue_at <= now() "
    "ORDER BY id DESC LIMIT 51"
)

ADD_ALERTS = """
WITH p AS (
    SELECT id, clinic_id, row_number() OVER (ORDER BY id) - 1 AS i, count(*) OVER () AS total
    FROM patients_patient WHERE clinic_id = ANY(%(clinics)s)
)
INSERT INTO followup_alert (clinic_id, patient_id, code, subject, severity, status, message,
                            created_at, updated_at, resolution_note, auto_resolved)
SELECT p.clinic_id, p.id, 'screw_loosening', 'bench:' || g.n,
       (ARRAY['warning', 'high', 'info'])[g.n %% 3 + 1], 'open',
       'Screw lucency 2.5 mm at L5, left: above the 2 mm loosening threshold.',
       %(now)s, %(now)s, '', false
FROM generate_series(0, %(count)s - 1) AS g(n) JOIN p ON p.i = g.n %% p.total
"""

DIGEST_FLOOR_READ = """
SELECT s.clinic_id, s.user_id, u.email, c.slug,
       (SELECT string_agg(a.severity || ' ' || a.code || ': ' || a.message || ' - ' || p.mrn,
                          E'\\n' ORDER BY a.created_at)
        FROM followup_alert a JOIN patients_patient p ON p.id = a.patient_id
        WHERE a.clinic_id = s.clinic_id AND a.status <> 'resolved'),
       (SELECT string_agg(k.label || ' - ' || p.mrn, E'\\n' ORDER BY k.due_at)
        FROM followup_checkpoint k JOIN patients_patient p ON p.id = k.patient_id
        WHERE k.clinic_id = s.clinic_id AND k.satisfied_by_id IS NULL
          AND k.waived_at IS NULL AND k.overdue_since IS NOT NULL)
FROM followup_subscription s JOIN auth_user u ON u.id = s.user_id
JOIN patients_clinic c ON c.id = s.clinic_id
WHERE s.digest AND u.is_active AND u.email <> ''
"""

DIGEST_FLOOR_RECORD = """
INSERT INTO followup_email (key, kind, clinic_id, user_id, recipient, local_date, status,
                            attempts, next_attempt_at, last_error, subject, built_at, sent_at,
                            created_at, claimed_by)
SELECT 'digest:' || s.clinic_id || ':' || s.user_id || ':' || %(day)s, 'digest', s.clinic_id,
       s.user_id, u.email, %(day)s, 'sent', 1, %(now)s, '', 'Follow-up digest', %(now)s,
       %(now)s, %(now)s, ''
FROM followup_subscription s JOIN auth_user u ON u.id = s.user_id
WHERE s.digest AND u.is_active AND u.email <> ''
ON CONFLICT DO NOTHING
"""


# --- A local SMTP server ----------------------------------------------------------------


class SmtpSink:
    """aiosmtpd on loopback that accepts and counts every message (a dev dependency)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.received = 0
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received += 1
        return "250 Message accepted for delivery"

    @property
    def mailers(self) -> dict:
        options = {"host": "127.0.0.1", "port": self.port, "timeout": 10}
        return {"default": {"BACKEND": SMTP_BACKEND, "OPTIONS": options}}

    def __enter__(self) -> "SmtpSink":
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs each command
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()


# --- The benchmark ----------------------------------------------------------------------


@dataclass
class Bench:
    patients: int
    repeat: int = 5
    clients: int = 4  # concurrent readers, each a thread of this process
    requests: int = 40  # per client, per endpoint and repetition
    ingest_exams: int = 1000
    digest_alerts: int = 20_000
    seed: int = SEED
    today: date = TODAY
    log: Callable[[str], None] = lambda line: None
    results: dict = field(default_factory=dict)

    def __post_init__(self):
        # The cohort's own "now": what it was generated as of (noon UTC).
        self.now = datetime(self.today.year, self.today.month, self.today.day, 12, tzinfo=UTC)
        self.clinics = list(cohort_clinics(self.seed))
        if not self.clinics:
            raise ValueError(f"No cohort of seed {self.seed}: generate it first.")
        self.clinic = self.clinics[0]  # the integration's clinic for ingest and reads

    def run(self, figures=FIGURES) -> dict:
        report = {
            "patients": self.patients, "seed": self.seed, "today": str(self.today),
            "repeat": self.repeat, "clients": self.clients,
            "server": {"workers": serving.WORKERS, "threads": serving.THREADS},
            "started_at": timezone.now().isoformat(timespec="seconds"),
            "machine": machine(), "data": data_counts(), "figures": {}, "targets": TARGETS,
        }  # fmt: skip
        self.results = report["figures"]
        client, token = self._api_client()
        try:
            for name in figures:
                self.log(f"{name}...")
                getattr(self, f"bench_{name}")(token)
        finally:
            client.delete()
        return report

    def _api_client(self) -> tuple[ApiClient, str]:
        ApiClient.objects.filter(clinic=self.clinic, name=CLIENT_NAME).delete()
        client, token = ApiClient.issue(self.clinic, CLIENT_NAME)
        client.rate_limit_per_minute = 1_000_000  # measure the API, not its rate limit
        client.save(update_fields=["rate_limit_per_minute"])
        return client, token

    def _api(self, token: str) -> APIClient:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return api

    # --- sweep ------------------------------------------------------------------------

    def bench_sweep(self, token: str) -> None:
        at = self.now + timedelta(days=30)
        due = Checkpoint.objects.filter(PENDING, overdue_at__lte=at).count()
        runs, floors, raised, floor_raised = [], [], 0, 0
        for _ in range(self.repeat):
            with rolled_back():
                seconds, result = timed(lambda: sweep.run(at))
                runs.append(seconds)
                raised = result.alerts
            with rolled_back():
                seconds, floor_raised = timed(lambda: execute(SWEEP_FLOOR, {"now": at}))
                floors.append(seconds)
        self.results["sweep"] = figure(
            "s", runs, floors, due=due, alerts=raised, floor_alerts=floor_raised
        )

    # --- ingest -----------------------------------------------------------------------

    def bench_ingest(self, token: str) -> None:
        records = self._exam_records()
        api = self._api(token)
        rates, floors, posts, refreshes, touched = [], [], [], [], 0
        for _ in range(self.repeat):
            with rolled_back():
                post, response = timed(
                    lambda: api.post("/api/v1/exams/bulk/", {"records": records}, format="json")
                )
                body = response.json()
                if response.status_code != 200 or body["errors"]:
                    raise RuntimeError(f"Bulk ingest refused: {response.status_code} {body}")
                stale = list(
                    Surgery.objects.filter(followup_stale_since__isnull=False)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
                work, _ = timed(partial(_refresh_all, stale))
                touched = len(stale)
                posts.append(post)
                refreshes.append(work)
                rates.append(len(records) / (post + work))
            with rolled_back():
                seconds, _ = timed(lambda: self._ingest_floor(records))
                floors.append(len(records) / seconds)
        self.results["ingest"] = figure(
            "exams/s", rates, floors, slower_is="lower", exams=len(records),
            findings=sum(len(r["findings"]) for r in records), surgeries=touched,
            post_s=statistics.median(posts), refresh_s=statistics.median(refreshes),
        )  # fmt: skip

    def _exam_records(self) -> list[dict]:
        """New exams with findings for the clinic's patients, the same in every run."""
        rng = random.Random(self.seed)
        latest = {}
        for surgery in Surgery.objects.filter(
            clinic=self.clinic, patient__mrn__startswith=f"C{self.seed}-",
            performed_at__lt=self.now - timedelta(days=30),
        ).order_by("patient_id", "performed_at"):  # fmt: skip
            latest[surgery.patient_id] = surgery
        surgeries = list(latest.values())
        records = []
        for n in range(self.ingest_exams):
            surgery = surgeries[(n // EXAMS_PER_PATIENT) % len(surgeries)]
            span = (self.now - surgery.performed_at).total_seconds()
            at = surgery.performed_at + timedelta(seconds=rng.uniform(0.05, 0.95) * span)
            modality = rng.choice(["XR", "XR", "CT", "MR"])
            records.append({
                "patient": surgery.patient_id, "surgery": surgery.pk, "modality": modality,
                "performed_at": at.isoformat(), "accession_number": f"BENCH-{n:06d}",
                "effective_dose_msv": None if modality == "MR" else "0.400",
                "findings": _findings(rng, surgery, modality),
            })  # fmt: skip
        return records

    def _ingest_floor(self, records: list[dict]) -> None:
        now = timezone.now()
        rows = [
            (self.clinic.pk, r["patient"], r["surgery"], r["modality"], "none", r["performed_at"],
             "{}", r["accession_number"], "", r["effective_dose_msv"], "", now, now)
            for r in records
        ]  # fmt: skip
        with connection.cursor() as cursor:
            values = ", ".join([f"({', '.join(['%s'] * 13)})"] * len(rows))
            cursor.execute(
                f"INSERT INTO imaging_imagingexam ({EXAM_COLUMNS}) VALUES {values} RETURNING id",
                [value for row in rows for value in row],
            )
            ids = [row[0] for row in cursor.fetchall()]
            findings = [
                (exam_id, f["code"], json.dumps(f["value"]), f.get("level", ""), f.get("side", ""))
                for exam_id, record in zip(ids, records, strict=True)
                for f in record["findings"]
            ]
            if findings:
                values = ", ".join(["(%s, %s, %s::jsonb, %s, %s)"] * len(findings))
                cursor.execute(
                    f"INSERT INTO imaging_finding (exam_id, code, value, level, side) "
                    f"VALUES {values}",
                    [value for row in findings for value in row],
                )

    # --- reads ------------------------------------------------------------------------

    def bench_read(self, token: str) -> None:
        patient = self._timeline_patient()
        clinic = {"clinic": self.clinic.pk}
        pages = {
            "timeline": (f"/api/v1/patients/{patient.pk}/timeline/", TIMELINE_FLOOR,
                         {"id": patient.pk}),
            "alerts_list": ("/api/v1/alerts/", [LIST_FLOOR.format(table="followup_alert")],
                            clinic),
            "checkpoints_list": ("/api/v1/checkpoints/",
                                 [LIST_FLOOR.format(table="followup_checkpoint")], clinic),
            "alerts_open": ("/api/v1/alerts/?status=open", [OPEN_ALERTS_FLOOR], clinic),
            "checkpoints_overdue": ("/api/v1/checkpoints/?status=overdue", [OVERDUE_FLOOR],
                                    clinic),
        }  # fmt: skip
        with serving.Gunicorn() as server:
            for name, (url, floor_sql, params) in pages.items():
                queries, rows = self._query_count(token, url)
                runs, floors = [], []
                for _ in range(self.repeat):
                    runs.append(self._concurrently(partial(_getter, server.url, url, token)))
                    floors.append(self._concurrently(partial(_selector, floor_sql, params)))
                self.results[name] = figure(
                    "ms (p95)", [percentile(r, 0.95) for r in runs],
                    [percentile(r, 0.95) for r in floors],
                    p50=statistics.median(percentile(r, 0.5) for r in runs),
                    floor_p50=statistics.median(percentile(r, 0.5) for r in floors),
                    queries=queries, rows=rows, requests=sum(len(r) for r in runs),
                )  # fmt: skip

    def _query_count(self, token: str, url: str) -> tuple[int, int]:
        api = self._api(token)
        api.get(url)  # warm: the first request loads what a running server has loaded
        with CaptureQueriesContext(connection) as captured:
            response = api.get(url)
        body = response.json()
        rows = len(body.get("results", body.get("entries", [])))
        return len(captured), rows

    def _concurrently(self, make_call: Callable[[], Callable[[], None]]) -> list[float]:
        """`clients` threads, each with its own connection, `requests` calls each: ms."""
        ready = threading.Barrier(self.clients)

        def worker() -> list[float]:
            try:
                call = make_call()
                call()  # connect and warm before the clock starts
                ready.wait(timeout=120)
                latencies = []
                for _ in range(self.requests):
                    seconds, _ = timed(call)
                    latencies.append(seconds * 1000)
                return latencies
            except BaseException:
                ready.abort()
                raise
            finally:
                connections.close_all()

        with ThreadPoolExecutor(self.clients) as pool:
            futures = [pool.submit(worker) for _ in range(self.clients)]
            return [ms for future in futures for ms in future.result()]

    def _timeline_patient(self) -> Patient:
        """A fusion patient with 300 exams over five years (kept for the next runs)."""
        mrn = f"BENCH-{TIMELINE_EXAMS}"
        if patient := Patient.objects.filter(clinic=self.clinic, mrn=mrn).first():
            return patient
        rng = random.Random(self.seed)
        with transaction.atomic():
            patient = Patient.objects.create(
                clinic=self.clinic, mrn=mrn, family_name="Benchmark", given_name="Ada",
                birth_date=date(1960, 5, 17), sex="female",
            )  # fmt: skip
            performed = self.now - timedelta(days=5 * 365)
            # bulk_create: no signal, so no task goes to the broker; refreshed below.
            (surgery,) = Surgery.objects.bulk_create([Surgery(
                patient=patient, clinic=self.clinic, performed_at=performed, procedure="tlif",
                levels=["L4-L5"], hardware=["pedicle_screws", "rods", "interbody_cage"],
                surgeon="Dr Benchmark",
            )])  # fmt: skip
            exams, findings = [], []
            for n in range(TIMELINE_EXAMS):
                at = performed + timedelta(days=1 + n * 6, hours=rng.randint(8, 17))
                modality = rng.choice(["XR", "XR", "CT", "MR"])
                exams.append(ImagingExam(
                    clinic=self.clinic, patient=patient, surgery=surgery, modality=modality,
                    performed_at=at, accession_number=f"BENCH-T-{n:04d}",
                ))  # fmt: skip
                findings.append(_findings(rng, surgery, modality))
            ImagingExam.objects.bulk_create(exams)
            Finding.objects.bulk_create(
                Finding(exam=exam, **item)
                for exam, items in zip(exams, findings, strict=True)
                for item in items
            )
            refresh.refresh(surgery.pk, self.now)
        return patient

    # --- digest -----------------------------------------------------------------------

    def bench_digest(self, token: str) -> None:
        runs, floors, sent, floor_sent, alerts = [], [], 0, 0, 0
        with SmtpSink() as smtp, override_settings(MAILERS=smtp.mailers):
            for _ in range(self.repeat):
                with rolled_back():
                    alerts = self._digest_setup()
                    seconds, sent = timed(
                        lambda: (mailing.queue_digests(self.now), mailing.deliver(self.now))[1]
                    )
                    runs.append(seconds)
                with rolled_back():
                    self._digest_setup()
                    seconds, floor_sent = timed(lambda: self._digest_floor(smtp.port))
                    floors.append(seconds)
        self.results["digest"] = figure(
            "s", runs, floors, clinics=len(self.clinics), open_alerts=alerts, emails=sent,
            floor_emails=floor_sent,
        )  # fmt: skip

    def _digest_setup(self) -> int:
        """One subscriber per clinic, every digest hour come, and enough open alerts."""
        Clinic.objects.filter(pk__in=[c.pk for c in self.clinics]).update(digest_hour=0)
        User = get_user_model()
        users = User.objects.bulk_create(
            User(username=f"bench-digest-{c.pk}", email=f"digest-{c.pk}@bench.invalid",
                 password="!", is_staff=True)
            for c in self.clinics
        )  # fmt: skip
        Membership.objects.bulk_create(
            Membership(user=u, clinic=c) for u, c in zip(users, self.clinics, strict=True)
        )
        Subscription.objects.bulk_create(
            Subscription(user=u, clinic=c, digest=True, urgent=False)
            for u, c in zip(users, self.clinics, strict=True)
        )
        open_alerts = Alert.objects.exclude(status=AlertStatus.RESOLVED).count()
        if open_alerts < self.digest_alerts:
            execute(ADD_ALERTS, {"clinics": [c.pk for c in self.clinics], "now": self.now,
                                 "count": self.digest_alerts - open_alerts})  # fmt: skip
        return max(open_alerts, self.digest_alerts)

    def _digest_floor(self, port: int) -> int:
        with connection.cursor() as cursor:
            cursor.execute(DIGEST_FLOOR_READ)
            digests = cursor.fetchall()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            for _clinic, _user, email, slug, alerts, overdue in digests:
                message = EmailMessage()
                message["Subject"] = f"[{slug}] Follow-up digest {self.today}"
                message["From"], message["To"] = "followup@localhost", email
                message.set_content(f"{alerts or ''}\n\n{overdue or ''}")
                smtp.send_message(message)
        execute(DIGEST_FLOOR_RECORD, {"day": self.today, "now": self.now})
        return len(digests)


def _findings(rng: random.Random, surgery: Surgery, modality: str) -> list[dict]:
    level = surgery.levels[0]
    if modality == "MR":  # a disc level; a vertebroplasty's level is a vertebra
        return [{"code": "disc_herniation", "level": level if "-" in level else "",
                 "value": rng.choice(["none", "none", "similar_to_preop"])}]  # fmt: skip
    if surgery.family != ProcedureFamily.FUSION or "-" not in level:
        return []
    return [
        {"code": "screw_lucency_mm", "level": level.split("-")[1], "side": "left",
         "value": round(rng.uniform(2.1, 3.5) if rng.random() < 0.1 else rng.uniform(0, 1.5), 1)},
        {"code": "bridging", "level": level, "value": rng.choice(["partial", "complete"])},
    ]  # fmt: skip


def _refresh_all(surgery_ids: list[int]) -> None:
    """What the workers do after a bulk ingest, here in this process: the refresh task
    for each chunk of the surgeries marked stale."""
    for start in range(0, len(surgery_ids), refresh.CHUNK):
        tasks.refresh_surgeries(surgery_ids[start : start + refresh.CHUNK])


def _getter(server: str, path: str, token: str) -> Callable[[], None]:
    """A client of the server with its own keep-alive connection, as an integration has.
    Plain http.client: the client shares the machine's cores with the server, and the
    less it spends on itself the more the figure is the server's."""
    host, port = urlsplit(server).hostname, urlsplit(server).port
    connection = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}

    def get() -> None:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status}")

    return get


def _selector(statements: list[str], params: dict) -> Callable[[], None]:
    def select() -> None:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql, params)
                cursor.fetchall()

    return select


def data_counts() -> dict:
    with connection.cursor() as cursor:
        tables = {"patients": "patients_patient", "surgeries": "patients_surgery",
                  "exams": "imaging_imagingexam", "findings": "imaging_finding",
                  "checkpoints": "followup_checkpoint", "alerts": "followup_alert"}  # fmt: skip
        counts = ", ".join(f"(SELECT count(*) FROM {table})" for table in tables.values())
        cursor.execute(f"SELECT {counts}, (SELECT count(*) FROM followup_alert "
                       f"WHERE status <> 'resolved')")  # fmt: skip
        return dict(zip([*tables, "open_alerts"], cursor.fetchone(), strict=True))


def machine() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    return {"cpus": os.cpu_count(), "load": list(os.getloadavg()), "postgres": version}


# --- Reporting --------------------------------------------------------------------------


def verdict(name: str, result: dict) -> str:
    target = TARGETS.get(name, {})
    ok = all([
        result["median"] <= target.get("max", float("inf")),
        result["median"] >= target.get("min", 0),
        result["ratio"] <= target.get("max_ratio", float("inf")),
    ])  # fmt: skip
    return "ok" if ok else "MISSED"


def target_text(name: str) -> str:
    target, unit = TARGETS.get(name, {}), "exams/s" if name == "ingest" else (
        "s" if name in ("sweep", "digest") else "ms")  # fmt: skip
    parts = []
    if "max" in target:
        parts.append(f"< {target['max']:g} {unit}")
    if "min" in target:
        parts.append(f">= {target['min']:,.0f} {unit}")
    if "max_ratio" in target:
        parts.append(f"<= {target['max_ratio']:g}x")
    return ", ".join(parts)


def _amount(value: float, unit: str) -> str:
    if unit == "exams/s":
        return f"{value:,.0f} exams/s"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:.1f} ms"


def table(report: dict) -> str:
    lines = [
        f"{report['patients']:,} patients (seed {report['seed']}, as of {report['today']}), "
        f"median of {report['repeat']} runs; reads: p95 (and p50) of {report['clients']} "
        f"concurrent clients of gunicorn ({report['server']['workers']} workers x "
        f"{report['server']['threads']} threads)",
        f"{'figure':<20}{'median':>15}{'floor':>15}{'ratio':>8}{'p50':>10}{'queries':>9}  "
        f"{'target':<27}verdict",
    ]
    for name, result in report["figures"].items():
        unit = "s" if result["unit"] == "s" else result["unit"].split(" ")[0]
        p50 = f"{result['p50']:.1f} ms" if "p50" in result else ""
        lines.append(
            f"{name:<20}{_amount(result['median'], unit):>15}"
            f"{_amount(result['floor']['median'], unit):>15}{result['ratio']:>7.1f}x"
            f"{p50:>10}{result.get('queries', ''):>9}  {target_text(name):<27}"
            f"{verdict(name, result)}"
        )
    return "\n".join(lines)


def write(report: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = report["started_at"].replace(":", "").replace("-", "")[:15]
    path = directory / f"bench-{report['patients']}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path
