"""What the outcomes report covers: the filters, the groups, the complications it counts,
and the CTEs of the chosen surgeries every section's query starts from."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.db import connection, transaction

from patients.models import PROCEDURE_FAMILY, Clinic, ProcedureFamily

from ..models.alerts import AlertCode

GROUP_BY = {  # the dimension's SQL over the `cohort` CTE's columns (never from the caller)
    "none": "''",
    "surgeon": "c.surgeon",
    "procedure": "c.procedure",
    "levels": "c.n_levels::text",
}
FUSIONS = sorted(p for p, family in PROCEDURE_FAMILY.items() if family == ProcedureFamily.FUSION)
MEASURES = ("nrs_back", "nrs_leg", "odi")

# Complications seen on imaging: the alerts the findings rules raise for them (CLINICAL_RULES
# §4). An alert resolved automatically had its cause withdrawn (the exam corrected or
# deleted): it does not count; one resolved by a person does.
COMPLICATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "loosening": ("Screw loosening", (AlertCode.SCREW_LOOSENING,)),
    "migration": ("Spacer migration", (AlertCode.SPACER_MIGRATION,)),
    "infection": ("Infection", (AlertCode.PERISCREW_INFECTION, AlertCode.ABSCESS)),
    "hardware_fracture": ("Hardware fracture", (AlertCode.HARDWARE_FRACTURE,)),
    "new_fracture": ("New fracture", (AlertCode.NEW_FRACTURE,)),
    "adjacent_segment": ("Adjacent segment degeneration", (AlertCode.ADJACENT_SEGMENT,)),
}


@dataclass(frozen=True)
class Filters:
    surgeon: str | None = None
    procedure: str | None = None
    levels: int | None = None
    performed_from: date | None = None  # the surgery's day on the clinic's calendar
    performed_to: date | None = None  # inclusive
    time_point: str | None = None  # a checkpoint code or a PROM time point code
    group_by: str = "none"
    min_group: int | None = None  # may raise the clinic's minimum, never lower it

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items()}


@dataclass
class Query:
    """The CTEs every section starts from, with their parameters: the surgeries of one
    clinic or of several (each row has its `clinic_id` and its clinic's time zone `tz`,
    and every section counts per clinic)."""

    clinics: list[Clinic]
    filters: Filters
    now: datetime
    params: dict = field(default_factory=dict)
    table: str | None = None  # the temporary table `chosen` read the selection into

    def __post_init__(self):
        f = self.filters
        self.params.update(clinics=[clinic.pk for clinic in self.clinics], now=self.now)
        where = ["TRUE"]
        for name, clause in (
            ("surgeon", "e.surgeon = %(surgeon)s"),
            ("procedure", "e.procedure = %(procedure)s"),
            ("levels", "e.n_levels = %(levels)s"),
            ("performed_from", "e.day >= %(performed_from)s"),
            ("performed_to", "e.day <= %(performed_to)s"),
        ):
            if getattr(f, name) is not None:
                where.append(clause)
                self.params[name] = getattr(f, name)
        self.where = " AND ".join(where)
        self.dimension = GROUP_BY[f.group_by]

    def cte(self) -> str:
        """`WITH cohort AS (...)`: the chosen surgeries (from `chosen`'s table, if read)."""
        cohort = f"cohort AS (SELECT * FROM {self.table})" if self.table else self.cohort()
        return f"""
        WITH {cohort}"""

    def scopes(self, *, procedure_levels: bool = False) -> str:
        """Each row of a selected surgery `c` once more per scope it counts in, as `s.scope`
        and `s.grp`: after the joins, so that the rows joined to a surgery are read once,
        whatever the number of scopes."""
        scopes = ["('all', '')"]
        if self.filters.group_by != "none":
            scopes.append(f"('group', {self.dimension})")
        if procedure_levels:
            scopes.append("('procedure_levels', c.procedure || ' / ' || c.n_levels)")
        return f"CROSS JOIN LATERAL (VALUES {', '.join(scopes)}) AS s(scope, grp)"

    def cohort(self) -> str:
        """The chosen surgeries, with the time of each patient's next surgery."""
        return f"""every AS (
            SELECT s.id, s.clinic_id, cl.timezone AS tz, s.patient_id, s.procedure, s.surgeon,
                   s.performed_at, cardinality(s.levels) AS n_levels,
                   (s.performed_at AT TIME ZONE cl.timezone)::date AS day,
                   lead(s.performed_at) OVER (
                       PARTITION BY s.patient_id ORDER BY s.performed_at, s.id
                   ) AS next_at
            FROM patients_surgery s JOIN patients_clinic cl ON cl.id = s.clinic_id
            WHERE s.clinic_id = ANY(%(clinics)s)
        ),
        cohort AS (
            SELECT e.* FROM every e WHERE {self.where} AND e.performed_at <= %(now)s
        )"""


TABLE = "report_cohort"


@contextmanager
def chosen(clinics: list[Clinic], filters: Filters, now: datetime) -> Iterator[Query]:
    """The selection read once, into a temporary table the queries of a whole report
    start from (instead of each finding the clinic's surgeries again); gone at the end,
    or with the transaction if a query fails. The transaction's sorts and hashes may use
    REPORT_WORK_MEM_MB each."""
    query = Query(clinics, filters, now)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)",
                       [f"{settings.REPORT_WORK_MEM_MB}MB"])  # fmt: skip
        cursor.execute(
            f"CREATE TEMPORARY TABLE {TABLE} AS WITH {query.cohort()} SELECT * FROM cohort",
            query.params,
        )
        cursor.execute(f"ANALYZE {TABLE}")  # a temporary table has no statistics until then
        query.table = TABLE
        yield query
        cursor.execute(f"DROP TABLE {TABLE}")
