"""How the benchmark measures (followup/ops/bench.py): timing, the floors (the same
state change in hand-written SQL), a local SMTP server, HTTP and SQL readers, and what
the machine and the data are."""

import http.client
import logging
import os
import random
import socket
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from urllib.parse import urlsplit

from django.db import connection, transaction

from followup import tasks
from followup.pipeline import refresh
from patients.models import ProcedureFamily, Surgery

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


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
      AND required AND kind NOT IN ('milestone', 'prom') AND overdue_at <= %(now)s
      AND patient_id IN (SELECT id FROM patients_patient WHERE followup_status = 'active')
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


def getter(server: str, path: str, token: str) -> Callable[[], None]:
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


def selector(statements: list[str], params: dict) -> Callable[[], None]:
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


def findings(rng: random.Random, surgery: Surgery, modality: str) -> list[dict]:
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


# The outcomes report's floor: its aggregates for one clinic, hand-written as one statement
# with nothing around it (no filters, no groups, no intervals): capture per checkpoint, the
# 12-month NRS back pairs, complete bridging, complications and acknowledgement.
REPORT_FLOOR = """
WITH s AS (
    SELECT id, patient_id, procedure, performed_at,
           (performed_at AT TIME ZONE %(tz)s)::date AS day
    FROM patients_surgery WHERE clinic_id = %(clinic)s
),
capture AS (
    SELECT k.code, count(*) FILTER (WHERE k.satisfied_by_id IS NOT NULL AND NOT k.late) AS a,
           count(*) FILTER (WHERE k.satisfied_by_id IS NOT NULL AND k.late) AS b,
           count(*) FILTER (WHERE k.satisfied_by_id IS NULL AND k.overdue_at <= %(now)s) AS c
    FROM followup_checkpoint k WHERE k.clinic_id = %(clinic)s AND k.kind <> 'milestone'
    GROUP BY k.code
),
prom AS (
    SELECT avg(b.nrs_back - l.nrs_back) AS mean, stddev_samp(b.nrs_back - l.nrs_back) AS sd,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY b.nrs_back - l.nrs_back) AS median
    FROM s
    JOIN LATERAL (SELECT a.nrs_back FROM patients_assessment a
                  WHERE a.patient_id = s.patient_id AND a.nrs_back IS NOT NULL
                    AND a.assessed_at BETWEEN s.performed_at - interval '90 days'
                                          AND s.performed_at + interval '1 day'
                  ORDER BY a.assessed_at DESC LIMIT 1) b ON TRUE
    JOIN LATERAL (SELECT a.nrs_back FROM patients_assessment a
                  WHERE a.patient_id = s.patient_id AND a.nrs_back IS NOT NULL
                    AND a.assessed_at BETWEEN s.performed_at + interval '300 days'
                                          AND s.performed_at + interval '455 days'
                  ORDER BY abs(extract(epoch FROM a.assessed_at - s.performed_at)
                               - 365 * 86400) LIMIT 1) l ON TRUE
),
bridging AS (
    SELECT count(*) AS assessed, count(*) FILTER (WHERE complete) AS complete FROM (
        SELECT bool_and(f.value #>> '{}' = 'complete') AS complete
        FROM followup_checkpoint k
        JOIN imaging_finding f ON f.exam_id = k.satisfied_by_id AND f.code = 'bridging'
        WHERE k.clinic_id = %(clinic)s AND k.code = 'fusion_assessment'
        GROUP BY k.surgery_id) x
),
complications AS (
    SELECT a.code, count(DISTINCT a.surgery_id) AS n FROM followup_alert a
    WHERE a.clinic_id = %(clinic)s AND NOT a.auto_resolved
      AND a.code IN ('screw_loosening', 'spacer_migration', 'periscrew_infection', 'abscess',
                     'hardware_fracture', 'new_fracture', 'adjacent_segment')
    GROUP BY a.code
),
acknowledged AS (
    SELECT percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM acknowledged_at - created_at)) AS median
    FROM followup_alert WHERE clinic_id = %(clinic)s AND acknowledged_at IS NOT NULL
)
SELECT (SELECT json_agg(capture) FROM capture), (SELECT row_to_json(prom) FROM prom),
       (SELECT row_to_json(bridging) FROM bridging),
       (SELECT json_agg(complications) FROM complications),
       (SELECT median FROM acknowledged), (SELECT count(*) FROM s)
"""


def refresh_all(surgery_ids: list[int]) -> None:
    """What the workers do after a bulk ingest, here in this process: the refresh task
    for each chunk of the surgeries marked stale."""
    for start in range(0, len(surgery_ids), refresh.CHUNK):
        tasks.refresh_surgeries(surgery_ids[start : start + refresh.CHUNK])
