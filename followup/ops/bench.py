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

import json
import random
import statistics
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from followup.models import (
    Checkpoint,
    SurgeryPlan,
)
from followup.models.checkpoints import PENDING
from followup.pipeline import refresh, sweep
from followup.reports import outcomes, selection
from imaging.models import Finding, ImagingExam
from patients.models import ApiClient, Patient, Surgery

from . import bench_dicom, bench_digest, bench_hl7, serving
from . import bench_measure as measure
from .bench_report import TARGETS
from .cohort import SEED, TODAY, cohort_clinics

FIGURES = ("sweep", "ingest", "dicom", "read", "digest", "report", "hl7")
TIMELINE_EXAMS = 300
EXAMS_PER_PATIENT = 5  # a bulk ingest is a backlog: a few exams for each patient
CLIENT_NAME = "benchmark"


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
            "machine": measure.machine(), "data": measure.data_counts(), "figures": {},
            "targets": TARGETS,
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
            with measure.rolled_back():
                seconds, result = measure.timed(lambda: sweep.run(at))
                runs.append(seconds)
                raised = result.alerts
            with measure.rolled_back():
                seconds, floor_raised = measure.timed(
                    lambda: measure.execute(measure.SWEEP_FLOOR, {"now": at})
                )
                floors.append(seconds)
        self.results["sweep"] = measure.figure(
            "s", runs, floors, due=due, alerts=raised, floor_alerts=floor_raised
        )

    # --- the outcomes report -----------------------------------------------------------

    def bench_report(self, token: str) -> None:
        """The whole outcomes report of one clinic (the cohort's clinics hold 500 patients
        each), then of every clinic together (`outcomes.run_many`: the reports of a
        network's clinics, each its own); the floor is the hand-written SQL of the same
        aggregates (measure.REPORT_FLOOR), one statement per clinic."""
        filters = selection.Filters(group_by="surgeon")
        one, one_floor, every, every_floor = [], [], [], []
        params = {"tz": self.clinic.timezone, "now": self.now}
        for _ in range(self.repeat):
            seconds, _ = measure.timed(lambda: outcomes.run(self.clinic, filters, self.now))
            one.append(seconds)
            seconds, _ = measure.timed(
                lambda: measure.selector(
                    [measure.REPORT_FLOOR], {**params, "clinic": self.clinic.pk}
                )()
            )
            one_floor.append(seconds)  # fmt: skip
        seconds, _ = measure.timed(lambda: outcomes.run_many(self.clinics, filters, self.now))
        every.append(seconds)
        seconds, _ = measure.timed(lambda: [
            measure.selector([measure.REPORT_FLOOR],
                             {"tz": c.timezone, "now": self.now, "clinic": c.pk})()
            for c in self.clinics
        ])  # fmt: skip
        every_floor.append(seconds)
        patients = Patient.objects.filter(clinic=self.clinic).count()
        self.results["report"] = measure.figure("s", one, one_floor, patients=patients)
        self.results["report_all_clinics"] = measure.figure(
            "s", every, every_floor, clinics=len(self.clinics)
        )

    # --- ingest -----------------------------------------------------------------------

    def bench_ingest(self, token: str) -> None:
        records = self._exam_records()
        # The cohort writes no finding alerts: its patients' follow-up was never evaluated.
        # In service it has been, at every earlier change; so each run first refreshes the
        # ingest's patients (untimed, rolled back with the run) and measures the steady
        # state, not a first evaluation of years of history (docs/performance.md).
        patients = {record["patient"] for record in records}
        theirs = list(
            Surgery.objects.filter(patient_id__in=patients).order_by("pk").values_list(
                "pk", flat=True
            )
        )  # fmt: skip
        api = self._api(token)
        rates, floors, posts, refreshes, touched = [], [], [], [], 0
        for _ in range(self.repeat):
            with measure.rolled_back():
                measure.refresh_all(theirs)
                post, response = measure.timed(
                    lambda: api.post("/api/v1/exams/bulk/", {"records": records}, format="json")
                )
                body = response.json()
                if response.status_code != 200 or body["errors"]:
                    raise RuntimeError(f"Bulk ingest refused: {response.status_code} {body}")
                stale = list(
                    SurgeryPlan.objects.filter(stale_since__isnull=False)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
                work, _ = measure.timed(partial(measure.refresh_all, stale))
                touched = len(stale)
                posts.append(post)
                refreshes.append(work)
                rates.append(len(records) / (post + work))
            with measure.rolled_back():
                seconds, _ = measure.timed(lambda: self._ingest_floor(records))
                floors.append(len(records) / seconds)
        self.results["ingest"] = measure.figure(
            "exams/s", rates, floors, slower_is="lower", exams=len(records),
            findings=sum(len(r["findings"]) for r in records), surgeries=touched,
            post_s=statistics.median(posts), refresh_s=statistics.median(refreshes),
        )  # fmt: skip

    # --- hl7 --------------------------------------------------------------------------

    def bench_hl7(self, token: str) -> None:
        bench_hl7.measure_figures(self, token)  # followup/ops/bench_hl7.py

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
                "findings": measure.findings(rng, surgery, modality),
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
                f"INSERT INTO imaging_imagingexam ({measure.EXAM_COLUMNS}) VALUES {values} "
                "RETURNING id",
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

    # --- dicom ------------------------------------------------------------------------

    def bench_dicom(self, token: str) -> None:
        bench_dicom.measure_figure(self, token)  # followup/ops/bench_dicom.py

    # --- reads ------------------------------------------------------------------------

    def bench_read(self, token: str) -> None:
        patient = self._timeline_patient()
        clinic = {"clinic": self.clinic.pk}
        pages = {
            "timeline": (f"/api/v1/patients/{patient.pk}/timeline/", measure.TIMELINE_FLOOR,
                         {"id": patient.pk}),
            "alerts_list": ("/api/v1/alerts/", [measure.LIST_FLOOR.format(table="followup_alert")],
                            clinic),
            "checkpoints_list": ("/api/v1/checkpoints/",
                                 [measure.LIST_FLOOR.format(table="followup_checkpoint")], clinic),
            "alerts_open": ("/api/v1/alerts/?status=open", [measure.OPEN_ALERTS_FLOOR], clinic),
            "checkpoints_overdue": ("/api/v1/checkpoints/?status=overdue", [measure.OVERDUE_FLOOR],
                                    clinic),
        }  # fmt: skip
        with serving.Gunicorn() as server:
            for name, (url, floor_sql, params) in pages.items():
                queries, rows = self._query_count(token, url)
                runs, floors = [], []
                for _ in range(self.repeat):
                    runs.append(self._concurrently(partial(measure.getter, server.url, url, token)))
                    floors.append(self._concurrently(partial(measure.selector, floor_sql, params)))
                self.results[name] = measure.figure(
                    "ms (p95)", [measure.percentile(r, 0.95) for r in runs],
                    [measure.percentile(r, 0.95) for r in floors],
                    p50=statistics.median(measure.percentile(r, 0.5) for r in runs),
                    floor_p50=statistics.median(measure.percentile(r, 0.5) for r in floors),
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
                    seconds, _ = measure.timed(call)
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
                findings.append(measure.findings(rng, surgery, modality))
            ImagingExam.objects.bulk_create(exams)
            Finding.objects.bulk_create(
                Finding(exam=exam, **item)
                for exam, items in zip(exams, findings, strict=True)
                for item in items
            )
            refresh.refresh(surgery.pk, self.now)
        return patient

    # --- digest (followup/ops/bench_digest.py) -----------------------------------------

    def bench_digest(self, token: str) -> None:
        bench_digest.measure_figure(self)
