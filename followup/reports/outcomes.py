"""The outcomes report of a clinic, or of several computed together (docs/outcomes.md),
in SQL.

Every figure is an aggregate over each clinic's surgeries chosen by the filters: a fixed
number of queries (aggregates, window functions, ordered-set aggregates), whatever the
number of patients or clinics; Python only turns the aggregates into intervals
(stats.py) and suppresses the groups smaller than the clinic's minimum.

Each section answers rows for the whole selection (scope `all`) and, when asked, for each
group of one dimension (scope `group`: by surgeon, procedure or number of levels); fusion
also per procedure and number of levels (scope `procedure_levels`).
"""

import json
from datetime import datetime

from django.db import connection

from patients.models import Clinic

from ..models import OutcomeStandards
from . import figures, stats
from .selection import COMPLICATIONS, FUSIONS, Filters, Query, chosen


def run(clinic: Clinic, filters: Filters, now: datetime) -> dict:
    """The whole report, as the API serves it (and the admin, the PDF and the CSV show)."""
    return run_many([clinic], filters, now)[clinic.pk]


def run_many(clinics: list[Clinic], filters: Filters, now: datetime) -> dict[int, dict]:
    """The whole report of each of these clinics (by id), computed together: each section
    one query over all their chosen surgeries, counted per clinic. Clinics whose outcome
    standards differ in what the queries take (baseline, time points, MCIDs, the fusion
    checkpoint) are computed in a pass of their own."""
    standards = OutcomeStandards.objects.current_of([clinic.pk for clinic in clinics])
    passes: dict[tuple, list[Clinic]] = {}
    for clinic in clinics:
        passes.setdefault(_in_the_queries(standards[clinic.pk]), []).append(clinic)
    reports = {}
    for batch in passes.values():
        with chosen(batch, filters, now) as query:
            sections = _sections(query, standards[batch[0].pk])
        for clinic in batch:
            rows = {name: found.get(clinic.pk, []) for name, found in sections.items()}
            reports[clinic.pk] = _report(clinic, filters, now, standards[clinic.pk], rows)
    return reports


def _in_the_queries(standards: OutcomeStandards) -> tuple:
    return (standards.baseline_days, json.dumps(standards.time_points, sort_keys=True),
            float(standards.nrs_mcid), float(standards.odi_mcid),
            standards.fusion_checkpoint)  # fmt: skip


def time_points(standards: OutcomeStandards, filters: Filters) -> list[dict]:
    """The standards' PROM time points the filters ask for (all, or the one named)."""
    return [p for p in standards.time_points if filters.time_point in (None, p["code"])]


def _sections(query: Query, standards: OutcomeStandards) -> dict[str, dict[int, list[dict]]]:
    """Each section's rows, by clinic."""
    found = {
        "groups": _groups(query),
        "capture": _capture_rows(query),
        "proms": _prom_rows(query, standards, time_points(standards, query.filters)),
        "fusion": _fusion_rows(query, standards),
        "complications": _complication_rows(query),
        "acknowledgement": _acknowledgement_rows(query),
        "overdue": _overdue_rows(query),
    }
    return {name: _by_clinic(rows) for name, rows in found.items()}


def _by_clinic(rows: list[dict]) -> dict[int, list[dict]]:
    clinics: dict[int, list[dict]] = {}
    for row in rows:
        clinics.setdefault(row.pop("clinic_id"), []).append(row)
    return clinics


def _report(clinic: Clinic, filters: Filters, now: datetime, standards: OutcomeStandards,
            rows: dict[str, list[dict]]) -> dict:  # fmt: skip
    minimum = max(standards.min_group_size, filters.min_group or 0)
    groups = rows["groups"]
    if not groups or groups[0]["scope"] != "all":  # the selection, even when empty
        groups.insert(0, {"scope": "all", "group": "", "surgeries": 0, "patients": 0})
    return {
        "clinic": {"id": clinic.pk, "name": clinic.name},
        "as_of": now.isoformat(),
        "filters": filters.as_dict(),
        "standards": {
            "version": standards.version,
            "min_group_size": minimum,
            "nrs_mcid": float(standards.nrs_mcid),
            "odi_mcid": float(standards.odi_mcid),
            "mcid_source": standards.mcid_source,
            "baseline_days": standards.baseline_days,
            "time_points": standards.time_points,
            "fusion_checkpoint": standards.fusion_checkpoint,
        },
        "groups": [figures.suppress(r, "surgeries", minimum, ()) for r in groups],
        "capture": [figures.capture(r, minimum) for r in rows["capture"]],
        "proms": [figures.prom(r, minimum) for r in rows["proms"]],
        "fusion": [figures.fusion(r, minimum) for r in rows["fusion"]],
        "complications": [figures.complications(r, minimum) for r in rows["complications"]],
        "acknowledgement": [
            figures.suppress(
                r, "alerts", minimum, ("acknowledged", "median_hours", "p90_hours", "mean_hours")
            )
            for r in rows["acknowledgement"]
        ],
        "overdue": [
            figures.suppress(
                r, "overdue", minimum, ("still_missing", "median_days", "p90_days", "mean_days")
            )
            for r in rows["overdue"]
        ],
    }


def capture(clinic: Clinic, filters: Filters, now: datetime) -> dict:
    """The capture section alone, as `run` answers it (the FHIR MeasureReport's figures,
    followup/fhir/measures.py): two queries, the standards and the capture rows."""
    standards = OutcomeStandards.objects.current(clinic.pk)
    minimum = max(standards.min_group_size, filters.min_group or 0)
    rows = _by_clinic(_capture_rows(Query([clinic], filters, now))).get(clinic.pk, [])
    return {
        "standards": {"version": standards.version, "min_group_size": minimum},
        "capture": [figures.capture(r, minimum) for r in rows],
    }


# --- the queries ------------------------------------------------------------------------


def _fetch(sql: str, params: dict) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _groups(query: Query) -> list[dict]:
    """The size of the selection and of each group (`_report` adds an empty selection)."""
    return _fetch(
        query.cte()
        + f"""
        SELECT c.clinic_id, s.scope, s.grp AS "group", count(*) AS surgeries,
               count(DISTINCT c.patient_id) AS patients
        FROM cohort c {query.scopes()}
        GROUP BY c.clinic_id, s.scope, s.grp ORDER BY c.clinic_id, s.scope, s.grp""",
        query.params,
    )


def _capture_rows(query: Query) -> list[dict]:
    """Per checkpoint (kind and code, so that a new kind of checkpoint shows up by itself):
    met on time, late, missed, not applicable (waived, or an optional exam not done), and
    not yet due. A PROM time point is optional (no overdue alert) but owed all the same: one
    closed unanswered is missed, as the dashboard's capture rate counts it."""
    time_point = "AND k.code = %(time_point)s" if query.filters.time_point else ""
    params = {**query.params, "time_point": query.filters.time_point}
    # Met: by an exam, or a PROM by the patient's answers (followup/models/checkpoints.py).
    met = "(k.satisfied_by_id IS NOT NULL OR k.answered_by_id IS NOT NULL)"
    unmet = f"k.waived_at IS NULL AND NOT {met}"
    owed = "(k.required OR k.kind = 'prom')"
    return _fetch(
        query.cte()
        + f"""
        SELECT c.clinic_id, s.scope, s.grp AS "group", k.kind, k.code, min(k.label) AS label,
               min(k.day) AS day,
               count(*) FILTER (WHERE k.waived_at IS NULL AND {met} AND NOT k.late) AS on_time,
               count(*) FILTER (WHERE k.waived_at IS NULL AND {met} AND k.late) AS late,
               count(*) FILTER (WHERE {unmet} AND {owed}
                                AND k.overdue_at <= %(now)s) AS missed,
               count(*) FILTER (WHERE k.waived_at IS NOT NULL OR ({unmet} AND NOT {owed}
                                AND k.overdue_at <= %(now)s)) AS not_applicable,
               count(*) FILTER (WHERE {unmet} AND k.overdue_at > %(now)s) AS pending
        FROM cohort c
        -- The window's opening day, in the clinic's zone, once per checkpoint (not per scope).
        JOIN LATERAL (
            SELECT k.*, (k.opens_at AT TIME ZONE c.tz)::date - c.day AS day
            FROM followup_checkpoint k
            WHERE k.surgery_id = c.id AND k.kind <> 'milestone' {time_point}
        ) k ON TRUE
        {query.scopes()}
        GROUP BY c.clinic_id, s.scope, s.grp, k.kind, k.code
        ORDER BY c.clinic_id, s.scope, s.grp, k.kind, day, k.code""",
        params,
    )


# Each selected surgery's PROM baseline and follow-up at each time point, per measure
# (needs `cohort` and `pair_params`): the latest score from `baseline_days` before the
# surgery to its day; at a time point, the score closest to its target day in its window,
# before the patient's next surgery.
PAIRS = """
        tp AS (
            SELECT * FROM unnest(%(tp_codes)s::text[], %(tp_opens)s::int[],
                                 %(tp_targets)s::int[], %(tp_dues)s::int[])
                AS tp(code, opens, target, due)
        ),
        obs AS (
            SELECT c.id AS sid, m.measure, m.value, a.assessed_at, c.next_at,
                   (a.assessed_at AT TIME ZONE c.tz)::date - c.day AS day
            FROM cohort c
            JOIN patients_assessment a ON a.patient_id = c.patient_id
             AND a.assessed_at >= c.performed_at - make_interval(days => %(baseline_days)s + 2)
             AND a.assessed_at < c.performed_at + make_interval(days => %(last_day)s + 2)
            CROSS JOIN LATERAL (VALUES ('nrs_back', a.nrs_back), ('nrs_leg', a.nrs_leg),
                                       ('odi', a.odi)) AS m(measure, value)
            WHERE m.value IS NOT NULL
        ),
        baseline AS (
            SELECT DISTINCT ON (sid, measure) sid, measure, value
            FROM obs WHERE day BETWEEN -%(baseline_days)s AND 0
            ORDER BY sid, measure, day DESC, assessed_at DESC
        ),
        later AS (
            SELECT DISTINCT ON (o.sid, o.measure, tp.code) o.sid, o.measure, tp.code AS tp,
                   o.value
            FROM obs o JOIN tp ON o.day BETWEEN tp.opens AND tp.due
            WHERE o.next_at IS NULL OR o.assessed_at < o.next_at
            ORDER BY o.sid, o.measure, tp.code, abs(o.day - tp.target), o.day, o.assessed_at
        ),
"""


def pair_params(standards: OutcomeStandards, points: list[dict]) -> dict:
    return {
        "baseline_days": standards.baseline_days,
        "last_day": max(int(p["due_day"]) for p in points),
        "tp_codes": [str(p["code"]) for p in points],
        "tp_opens": [int(p["opens_day"]) for p in points],
        "tp_targets": [int(p["target_day"]) for p in points],
        "tp_dues": [int(p["due_day"]) for p in points],
    }


def _prom_rows(query: Query, standards: OutcomeStandards, points: list[dict]) -> list[dict]:
    """Per time point and measure: the pairs (baseline, follow-up) of each surgery, their
    improvement (baseline minus follow-up: positive is better), its mean, standard
    deviation, median, the two order statistics bounding the median's interval (by their
    ranks in the group's improvements, in order), and the responders at the MCID."""
    if not points:
        return []
    params = {
        **query.params,
        **pair_params(standards, points),
        "nrs_mcid": float(standards.nrs_mcid),
        "odi_mcid": float(standards.odi_mcid),
        "z": stats.Z95,
    }
    return _fetch(
        query.cte()
        + ","
        + PAIRS
        + f"""
        pairs AS (
            SELECT c.clinic_id, s.scope, s.grp, l.tp, l.measure, b.value::float AS baseline,
                   l.value::float AS follow_up, (b.value - l.value)::float AS improvement,
                   CASE l.measure WHEN 'odi' THEN %(odi_mcid)s ELSE %(nrs_mcid)s END AS mcid
            FROM later l JOIN baseline b USING (sid, measure) JOIN cohort c ON c.id = l.sid
            {query.scopes()}
        ),
        summed AS (
            SELECT clinic_id, scope, grp, tp, measure, count(*) AS n, min(mcid) AS mcid,
                   avg(baseline) AS baseline_mean, avg(follow_up) AS follow_up_mean,
                   avg(improvement) AS mean, stddev_samp(improvement) AS sd,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY improvement) AS median,
                   array_agg(improvement ORDER BY improvement) AS ordered,
                   count(*) FILTER (WHERE improvement >= mcid) AS responders
            FROM pairs
            GROUP BY clinic_id, scope, grp, tp, measure
        )
        SELECT clinic_id, scope, grp AS "group", tp AS time_point, measure, n, mcid,
               baseline_mean, follow_up_mean, mean, sd, median,
               ordered[round(n / 2.0 - %(z)s * sqrt(n) / 2)::int] AS median_low,
               ordered[round(1 + n / 2.0 + %(z)s * sqrt(n) / 2)::int] AS median_high,
               responders
        FROM summed
        ORDER BY clinic_id, scope, grp, tp, measure""",
        params,
    )


def _fusion_rows(query: Query, standards: OutcomeStandards) -> list[dict]:
    """Fusions: complete bridging on the exam that met the 12-month assessment (every
    bridging finding of that exam `complete`); pseudarthrosis suspected (an alert not
    withdrawn) among the fusions followed for a year."""
    params = {**query.params, "fusions": FUSIONS, "checkpoint": standards.fusion_checkpoint}
    return _fetch(
        query.cte()
        + f""",
        fusions AS (SELECT c.id FROM cohort c WHERE c.procedure = ANY(%(fusions)s)),
        assessed AS (
            SELECT k.surgery_id AS sid, bool_and(f.value #>> '{{}}' = 'complete') AS complete
            FROM fusions u
            JOIN followup_checkpoint k ON k.surgery_id = u.id AND k.code = %(checkpoint)s
             AND k.waived_at IS NULL
            JOIN imaging_finding f ON f.exam_id = k.satisfied_by_id AND f.code = 'bridging'
            GROUP BY k.surgery_id
        ),
        suspected AS (
            SELECT DISTINCT a.surgery_id AS sid
            FROM fusions u
            JOIN followup_alert a ON a.surgery_id = u.id AND a.code = 'pseudarthrosis_suspected'
             AND NOT a.auto_resolved
        )
        SELECT c.clinic_id, s.scope, s.grp AS "group", count(*) AS fusions,
               count(a.sid) AS assessed,
               count(*) FILTER (WHERE a.complete) AS complete_bridging,
               count(*) FILTER (WHERE c.day <= (%(now)s AT TIME ZONE c.tz)::date - 365)
                   AS followed_a_year,
               count(*) FILTER (WHERE c.day <= (%(now)s AT TIME ZONE c.tz)::date - 365
                                AND p.sid IS NOT NULL) AS pseudarthrosis_suspected
        FROM cohort c
        LEFT JOIN assessed a ON a.sid = c.id
        LEFT JOIN suspected p ON p.sid = c.id
        {query.scopes(procedure_levels=True)}
        WHERE c.procedure = ANY(%(fusions)s)
        GROUP BY c.clinic_id, s.scope, s.grp
        ORDER BY c.clinic_id, s.scope, s.grp""",
        params,
    )


def _complication_rows(query: Query) -> list[dict]:
    codes = sorted({c for _, alert_codes in COMPLICATIONS.values() for c in alert_codes})
    params = {**query.params, "codes": codes}
    columns = []
    for name, (_, alert_codes) in COMPLICATIONS.items():
        params[f"c_{name}"] = list(alert_codes)
        columns.append(f"count(*) FILTER (WHERE h.codes && %(c_{name})s::text[]) AS {name}")
    return _fetch(
        query.cte()
        + f""",
        hits AS (
            SELECT a.surgery_id AS sid, array_agg(DISTINCT a.code::text) AS codes
            FROM cohort c
            JOIN followup_alert a ON a.surgery_id = c.id AND a.code = ANY(%(codes)s)
             AND NOT a.auto_resolved
            GROUP BY a.surgery_id
        )
        SELECT c.clinic_id, s.scope, s.grp AS "group", count(*) AS surgeries, {", ".join(columns)}
        FROM cohort c LEFT JOIN hits h ON h.sid = c.id {query.scopes()}
        GROUP BY c.clinic_id, s.scope, s.grp
        ORDER BY c.clinic_id, s.scope, s.grp""",
        params,
    )


def _acknowledgement_rows(query: Query) -> list[dict]:
    """Alerts about the selected surgeries: hours from raised to acknowledged, per severity
    and for all severities (severity empty)."""
    return _fetch(
        query.cte()
        + f"""
        SELECT c.clinic_id, s.scope, s.grp AS "group", coalesce(a.severity, '') AS severity,
               count(*) AS alerts, count(a.acknowledged_at) AS acknowledged,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY h.hours) AS median_hours,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY h.hours) AS p90_hours,
               avg(h.hours) AS mean_hours
        FROM cohort c
        JOIN followup_alert a ON a.surgery_id = c.id
        CROSS JOIN LATERAL (
            SELECT extract(epoch FROM a.acknowledged_at - a.created_at)::float / 3600 AS hours
        ) h
        {query.scopes()}
        GROUP BY c.clinic_id, GROUPING SETS ((s.scope, s.grp, a.severity), (s.scope, s.grp))
        ORDER BY c.clinic_id, s.scope, s.grp, severity""",
        query.params,
    )


def _overdue_rows(query: Query) -> list[dict]:
    """Required checkpoints not met by their overdue time (and not waived): days from then
    to the exam that met them late, or to now while still missing; per checkpoint code and
    for all (code empty)."""
    return _fetch(
        query.cte()
        + f"""
        SELECT c.clinic_id, s.scope, s.grp AS "group", coalesce(k.code, '') AS code,
               count(*) AS overdue, count(*) FILTER (WHERE e.id IS NULL) AS still_missing,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY d.days) AS median_days,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY d.days) AS p90_days,
               avg(d.days) AS mean_days
        FROM cohort c
        JOIN followup_checkpoint k ON k.surgery_id = c.id AND k.kind <> 'milestone'
         AND k.required AND k.waived_at IS NULL AND k.overdue_at <= %(now)s
        LEFT JOIN imaging_imagingexam e ON e.id = k.satisfied_by_id
        CROSS JOIN LATERAL (
            SELECT extract(epoch FROM coalesce(e.performed_at, %(now)s) - k.overdue_at)::float
                   / 86400 AS days
        ) d
        {query.scopes()}
        WHERE e.id IS NULL OR e.performed_at > k.overdue_at
        GROUP BY c.clinic_id, GROUPING SETS ((s.scope, s.grp, k.code), (s.scope, s.grp))
        ORDER BY c.clinic_id, s.scope, s.grp, code""",
        query.params,
    )
