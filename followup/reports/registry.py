"""Patient-level rows for a registry: one per surgery and time point (each checkpoint of
the surgery but its milestones, and each PROM time point), pseudonymised.

Pseudonymised means: no MRN, no name, no birth date; a key per patient and per surgery
made with a salt drawn for this export only (HMAC-SHA256: the same patient has the same
key within an export, and keys of two exports cannot be linked); and, when asked, every
date shifted by a number of days drawn per patient from the same salt (intervals within a
patient are kept, true dates are not). The rows come from one SQL query each for
checkpoints and PROMs; Python only writes the keys and shifts the dates.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection

from patients.models import Clinic

from ..models import OutcomeStandards
from .outcomes import COMPLICATIONS, PAIRS, Filters, Query, pair_params, time_points

COLUMNS = [
    "patient_key", "surgery_key", "sex", "age_at_surgery", "procedure", "levels",
    "n_levels", "surgeon", "surgery_date", "time_point", "kind", "status", "exam_date",
    "modality", "bridging", "nrs_back_baseline", "nrs_back", "nrs_leg_baseline", "nrs_leg",
    "odi_baseline", "odi", "complications",
]  # fmt: skip
MAX_SHIFT = 180  # days, either way


@dataclass
class Pseudonyms:
    shift_dates: bool = False
    salt: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def key(self, kind: str, pk: int) -> str:
        return hmac.new(self.salt, f"{kind}:{pk}".encode(), hashlib.sha256).hexdigest()[:16]

    def shift(self, patient_id: int) -> timedelta:
        """Between 1 and MAX_SHIFT days, earlier or later; never 0."""
        digest = hmac.new(self.salt, f"shift:{patient_id}".encode(), hashlib.sha256).digest()
        n = int.from_bytes(digest[:4]) % (2 * MAX_SHIFT)  # 0 .. 359
        return timedelta(days=n - MAX_SHIFT if n < MAX_SHIFT else n - MAX_SHIFT + 1)

    def day(self, value: date | None, patient_id: int) -> str:
        if value is None:
            return ""
        return (value + self.shift(patient_id) if self.shift_dates else value).isoformat()


def rows(clinic: Clinic, filters: Filters, now: datetime, pseudonyms: Pseudonyms):
    """(columns, rows, patient ids): the rows as lists in COLUMNS' order."""
    standards = OutcomeStandards.objects.current(clinic.pk)
    points = time_points(standards, filters)
    query = Query([clinic], Filters(**{**filters.__dict__, "group_by": "none"}), now)
    params = {**query.params, "complications": _complication_cases()}
    checkpoints = _fetch(query.cte() + _CHECKPOINTS.format(
        time_point="AND k.code = %(time_point)s" if filters.time_point else ""
    ), {**params, "time_point": filters.time_point})  # fmt: skip
    proms = (
        _fetch(query.cte() + "," + PAIRS + _PROMS, {**params, **pair_params(standards, points)})
        if points
        else []
    )
    out, patients = [], set()
    for row in sorted(checkpoints + proms, key=lambda r: (r["surgery_id"], r["day"] or 0)):
        patient = row["patient_id"]
        patients.add(patient)
        row["patient_key"] = pseudonyms.key("patient", patient)
        row["surgery_key"] = pseudonyms.key("surgery", row["surgery_id"])
        row["surgery_date"] = pseudonyms.day(row["surgery_date"], patient)
        row["exam_date"] = pseudonyms.day(row.get("exam_date"), patient)
        row["levels"] = " ".join(row["levels"] or [])
        row["complications"] = " ".join(row["complications"] or [])
        out.append([row.get(name) if row.get(name) is not None else "" for name in COLUMNS])
    return COLUMNS, out, sorted(patients)


def _complication_cases() -> list[str]:
    return sorted({c for _, codes in COMPLICATIONS.values() for c in codes})


def _fetch(sql: str, params: dict) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


_SURGERY = """
    c.id AS surgery_id, c.patient_id, p.sex,
    date_part('year', age(c.day, p.birth_date))::int AS age_at_surgery,
    c.procedure, s.levels, c.n_levels, c.surgeon, c.day AS surgery_date,
    (SELECT array_agg(DISTINCT a.code ORDER BY a.code) FROM followup_alert a
     WHERE a.surgery_id = c.id AND a.code = ANY(%(complications)s) AND NOT a.auto_resolved)
        AS complications
"""

_CHECKPOINTS = (
    """
    SELECT """
    + _SURGERY
    + """,
           k.code AS time_point, k.kind,
           (k.opens_at AT TIME ZONE c.tz)::date - c.day AS day,
           CASE WHEN k.waived_at IS NOT NULL THEN 'not_applicable'
                WHEN k.satisfied_by_id IS NOT NULL AND k.late THEN 'late'
                WHEN k.satisfied_by_id IS NOT NULL THEN 'on_time'
                WHEN k.overdue_at > %(now)s THEN 'pending'
                WHEN k.required THEN 'missed' ELSE 'not_applicable' END AS status,
           (e.performed_at AT TIME ZONE c.tz)::date AS exam_date, e.modality,
           (SELECT string_agg(DISTINCT f.value #>> '{{}}', ' ') FROM imaging_finding f
            WHERE f.exam_id = e.id AND f.code = 'bridging') AS bridging
    FROM cohort c
    JOIN patients_surgery s ON s.id = c.id
    JOIN patients_patient p ON p.id = c.patient_id
    JOIN followup_checkpoint k ON k.surgery_id = c.id
         AND k.kind NOT IN ('milestone', 'prom') {time_point}
    LEFT JOIN imaging_imagingexam e ON e.id = k.satisfied_by_id
"""
)

_PROMS = (
    """
    measured AS (
        SELECT l.sid, l.tp, max(l.value) FILTER (WHERE l.measure = 'nrs_back') AS nrs_back,
               max(l.value) FILTER (WHERE l.measure = 'nrs_leg') AS nrs_leg,
               max(l.value) FILTER (WHERE l.measure = 'odi') AS odi
        FROM later l GROUP BY l.sid, l.tp
    ),
    based AS (
        SELECT b.sid, max(b.value) FILTER (WHERE b.measure = 'nrs_back') AS nrs_back,
               max(b.value) FILTER (WHERE b.measure = 'nrs_leg') AS nrs_leg,
               max(b.value) FILTER (WHERE b.measure = 'odi') AS odi
        FROM baseline b GROUP BY b.sid
    )
    SELECT """
    + _SURGERY
    + """,
           tp.code AS time_point, 'prom' AS kind, tp.opens AS day,
           CASE WHEN m.sid IS NOT NULL THEN 'reported'
                WHEN c.day + tp.due < (%(now)s AT TIME ZONE c.tz)::date THEN 'missed'
                ELSE 'pending' END AS status,
           b.nrs_back AS nrs_back_baseline, m.nrs_back, b.nrs_leg AS nrs_leg_baseline,
           m.nrs_leg, b.odi AS odi_baseline, m.odi
    FROM cohort c
    CROSS JOIN tp
    JOIN patients_surgery s ON s.id = c.id
    JOIN patients_patient p ON p.id = c.patient_id
    LEFT JOIN measured m ON m.sid = c.id AND m.tp = tp.code
    LEFT JOIN based b ON b.sid = c.id
"""
)
