"""A synthetic cohort: realistic, reproducible follow-up histories, loaded in bulk.

Everything random comes from one `random.Random(seed)` and every date from `today`,
so a seed and a day give the same cohort. Rates are plausible for a spine unit, not
data from anywhere: the procedure mix, how often a film is on time, late or missed,
and how often screws loosen, fusions fail and spacers move.

The state written is the steady state of a running service as of `today`: the
checkpoints planned by the protocols, satisfied by the exams that were done, and
the overdue ones already swept (alerts raised). Triggers are switched off for the
load when the database role may (the audit trail of invented data is noise).
"""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from followup.models import Alert, Checkpoint, CheckpointKind, Protocol, SurgeryPlan, Thresholds
from followup.models.alerts import AlertCode
from followup.pipeline import evaluation
from followup.pipeline.schedule import Window, window
from followup.pipeline.sweep import overdue_message
from imaging.models import Finding, ImagingExam
from patients.models import (
    PROCEDURE_FAMILY,
    Assessment,
    Clinic,
    ClinicalEvent,
    Patient,
    ProcedureFamily,
    Surgery,
)

from .cohort_imaging import ImagingHistory

PROCEDURES = [  # (code, weight)
    ("discectomy", 28), ("decompression", 20), ("tlif", 18), ("plif", 5), ("alif", 5),
    ("xlif", 3), ("posterolateral_fusion", 12), ("vertebroplasty", 4), ("kyphoplasty", 3),
    ("infection_debridement", 2),
]  # fmt: skip
ZONES = ["Europe/Paris", "Europe/London", "America/New_York", "America/Los_Angeles",
         "Australia/Brisbane", "Asia/Tokyo", "Europe/Madrid", "America/Chicago"]  # fmt: skip
FAMILY_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit",
                "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia",
                "David"]  # fmt: skip
GIVEN_NAMES = ["Alice", "Louis", "Emma", "Jules", "Chloe", "Hugo", "Lea", "Noah", "Lina", "Adam",
               "Rose", "Leo", "Anna", "Paul", "Ines", "Tom"]  # fmt: skip
SEGMENTS = ["L2-L3", "L3-L4", "L4-L5", "L5-S1"]
BATCH = 5000


@dataclass
class Rates:
    """How often things happen (plausible, invented)."""

    on_time: float = 0.80  # a protocol film done in its window
    late: float = 0.08  # done after the due day
    loosening: float = 0.06  # screw lucency above 2 mm on a film
    non_union: float = 0.10  # no bridging at a year
    migration: float = 0.03  # spacer moved since the baseline
    extra_mr: float = 0.25  # an MR outside the protocol
    event: float = 0.04  # a symptom recorded
    assessments: float = 0.5  # patients who report outcomes
    acknowledged: float = 0.6  # overdue alerts acknowledged, within hours to days


@dataclass(frozen=True)
class Effects:
    """Known effects planted in the cohort, for the outcomes report's tests: what the report
    must find again (docs/outcomes.md)."""

    weak_surgeon: str | None = None  # this surgeon's fusions fail to bridge more often
    weak_surgeon_non_union: float = 0.5
    loose_procedure: str | None = None  # this procedure's screws loosen more often
    loose_procedure_loosening: float = 0.5
    # PROM improvement at 12 months (baseline minus follow-up), about half at 3 months;
    # None: the plain random walk.
    prom_improvement: dict[str, float] | None = None
    prom_noise: dict[str, float] = field(
        default_factory=lambda: {"nrs_back": 1.2, "nrs_leg": 1.2, "odi": 8.0}
    )


@dataclass
class Counts:
    clinics: int = 0
    patients: int = 0
    surgeries: int = 0
    exams: int = 0
    findings: int = 0
    checkpoints: int = 0
    alerts: int = 0  # overdue checkpoints, raised by the sweep
    finding_alerts: int = 0  # raised by the findings rules (the evaluation)
    events: int = 0
    assessments: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Generator(ImagingHistory):
    seed: int
    today: date
    rates: Rates = field(default_factory=Rates)
    effects: Effects = field(default_factory=Effects)
    surgeons: list[str] = field(default_factory=lambda: [f"Dr {n}" for n in FAMILY_NAMES])
    progress: Callable[[str, int, int], None] = lambda label, done, total: None

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self.now = datetime.combine(self.today, time(12, 0), tzinfo=ZoneInfo("UTC"))
        self.counts = Counts()

    # --- entry point ------------------------------------------------------------------------

    def run(self, patients: int, patients_per_clinic: int = 500, *, start: int = 0) -> Counts:
        """Patients `start` to `patients` of the cohort. From a `start` (a cohort that
        grows in place), a random stream of its own: no accession number comes twice."""
        if start:
            self.rng = random.Random(f"{self.seed}:{start}")
        protocols = {p.family: p for p in Protocol.objects.filter(clinic__isnull=True)
                     .order_by("family", "version").prefetch_related("definitions")}  # fmt: skip
        # Pinned at planning, as schedule.plan pins a new surgery (the shared default).
        self.thresholds = Thresholds.objects.current(None)
        clinic_count = max(1, patients // patients_per_clinic)
        clinics = self._clinics(clinic_count)
        done = start
        while done < patients:
            size = min(BATCH // 2, patients - done)
            with transaction.atomic(), _triggers_off():
                self._patients(clinics, size, done, protocols)
            done += size
            self.progress("patients", done, patients)
        return self.counts

    # --- rows -------------------------------------------------------------------------------

    def _clinics(self, count: int) -> list[Clinic]:
        existing = Clinic.objects.filter(slug__startswith=f"cohort-{self.seed}-").count()
        rows = [
            Clinic(slug=f"cohort-{self.seed}-{n}", name=f"Cohort clinic {n}",
                   timezone=ZONES[n % len(ZONES)])
            for n in range(existing, count)
        ]  # fmt: skip
        Clinic.objects.bulk_create(rows)
        self.counts.clinics = count
        return list(Clinic.objects.filter(slug__startswith=f"cohort-{self.seed}-").order_by("pk"))

    def _patients(self, clinics, size: int, offset: int, protocols) -> None:
        rng = self.rng
        patients = [
            Patient(
                clinic=clinics[(offset + i) % len(clinics)],
                mrn=f"C{self.seed}-{offset + i:07d}",
                family_name=rng.choice(FAMILY_NAMES),
                given_name=rng.choice(GIVEN_NAMES),
                birth_date=self.today - timedelta(days=rng.randint(25 * 365, 85 * 365)),
                sex=rng.choice(["female", "male"]),
                transitional_variant="L6 lumbarisation" if rng.random() < 0.05 else "",
            )
            for i in range(size)
        ]
        Patient.objects.bulk_create(patients, batch_size=BATCH)
        self.counts.patients += size

        surgeries = [s for p in patients for s in self._surgeries_of(p)]
        plans = [(s, self._plan(s, protocols)) for s in surgeries]
        Surgery.objects.bulk_create(surgeries, batch_size=BATCH)
        self.counts.surgeries += len(surgeries)
        SurgeryPlan.objects.bulk_create(
            [self._pinned(s, protocols) for s in surgeries], batch_size=BATCH
        )

        exams, findings, satisfied = [], [], {}
        for surgery, checkpoints in plans:
            for exam, exam_findings, checkpoint in self._exams_of(surgery, checkpoints):
                exams.append(exam)
                findings += [(exam, f) for f in exam_findings]
                if checkpoint is not None:
                    satisfied[id(checkpoint)] = exam
        ImagingExam.objects.bulk_create(exams, batch_size=BATCH)
        for exam, finding in findings:
            finding.exam_id = exam.pk
        Finding.objects.bulk_create([f for _, f in findings], batch_size=BATCH)
        self.counts.exams += len(exams)
        self.counts.findings += len(findings)

        checkpoints = []
        for _, rows in plans:
            for checkpoint in rows:
                exam = satisfied.get(id(checkpoint))
                if exam is not None:
                    checkpoint.satisfied_by_id = exam.pk
                    checkpoint.late = exam.performed_at >= checkpoint.due_at
                elif (
                    # What the sweep owes an alert (followup.models.checkpoints.PENDING).
                    checkpoint.required
                    and checkpoint.kind not in (CheckpointKind.MILESTONE, CheckpointKind.PROM)
                    and checkpoint.overdue_at <= self.now
                ):
                    checkpoint.overdue_since = checkpoint.overdue_at  # swept already
                checkpoints.append(checkpoint)
        Checkpoint.objects.bulk_create(checkpoints, batch_size=BATCH)
        self.counts.checkpoints += len(checkpoints)

        alerts = [self._overdue_alert(c) for c in checkpoints if c.overdue_since]
        Alert.objects.bulk_create(alerts, batch_size=BATCH)  # one per checkpoint: no conflict
        # Raised when the sweep found them (auto_now_add wrote the clock's time).
        for alert in alerts:
            alert.created_at = alert.raised_at
        Alert.objects.bulk_update(alerts, ["created_at"], batch_size=BATCH)
        self.counts.alerts += len(alerts)
        self._events_and_assessments(surgeries)
        self.counts.finding_alerts += self._finding_alerts(surgeries)

    def _surgeries_of(self, patient: Patient) -> Iterator[Surgery]:
        rng = self.rng
        count = rng.choices([1, 2, 3], weights=[65, 25, 10])[0]
        for _ in range(count):
            procedure = rng.choices([p for p, _ in PROCEDURES], [w for _, w in PROCEDURES])[0]
            family = PROCEDURE_FAMILY[procedure]
            performed = self.now - timedelta(days=rng.randint(1, 5 * 365), hours=rng.randint(0, 8))
            fusion = family == ProcedureFamily.FUSION
            first = rng.randrange(len(SEGMENTS) - 1)
            yield Surgery(
                patient=patient,
                clinic=patient.clinic,
                performed_at=performed,
                procedure=procedure,
                levels=SEGMENTS[first : first + rng.choice([1, 1, 2])]
                if family != "none"
                else ["L1"],
                hardware=["pedicle_screws", "rods", "interbody_cage"] if fusion else [],
                surgeon=rng.choice(self.surgeons),
            )

    def _pinned(self, surgery: Surgery, protocols) -> SurgeryPlan:
        """What the surgery was planned with, as schedule.plan pins a new surgery."""
        return SurgeryPlan(
            surgery_id=surgery.pk,
            protocol=protocols.get(surgery.family),
            thresholds=self.thresholds if self.thresholds.pk else None,
        )

    def _plan(self, surgery: Surgery, protocols) -> list[Checkpoint]:
        protocol = protocols.get(surgery.family)
        if protocol is None:
            return []
        zone = surgery.clinic.zone
        rows = []
        for definition in protocol.definitions.all():
            span: Window = window(definition, surgery.performed_at, zone)
            rows.append(Checkpoint(
                clinic_id=surgery.clinic_id, patient_id=surgery.patient_id, surgery=surgery,
                definition=definition, code=definition.code, label=definition.label,
                kind=definition.kind, opens_at=span.opens_at, due_at=span.due_at,
                overdue_at=span.overdue_at, modalities=list(definition.modalities),
                required=definition.required, overdue_severity=definition.overdue_severity,
            ))  # fmt: skip
        return rows

    def _overdue_alert(self, checkpoint: Checkpoint) -> Alert:
        checkpoint.clinic = checkpoint.surgery.clinic
        alert = Alert(
            clinic_id=checkpoint.clinic_id, patient_id=checkpoint.patient_id,
            surgery_id=checkpoint.surgery_id, checkpoint_id=checkpoint.pk,
            code=AlertCode.CHECKPOINT_OVERDUE, subject=f"checkpoint:{checkpoint.pk}",
            severity=checkpoint.overdue_severity, message=overdue_message(checkpoint),
        )  # fmt: skip
        alert.raised_at = checkpoint.overdue_at
        if self.rng.random() < self.rates.acknowledged:
            at = checkpoint.overdue_at + timedelta(hours=self.rng.uniform(0.5, 120))
            if at < self.now:
                alert.status, alert.acknowledged_at = "acknowledged", at
        return alert

    def _finding_alerts(self, surgeries: list[Surgery]) -> int:
        """The findings rules' alerts for the films written, by the service's own evaluation
        (the steady state after the refreshes)."""
        loaded = list(
            Surgery.objects.filter(pk__in=[s.pk for s in surgeries])
            .select_related("clinic", "plan__protocol", "patient")
            .order_by("pk")
        )
        before = Alert.objects.filter(surgery__in=loaded).count()
        evaluation.evaluate_many(loaded, self.now, evaluation.pinned_thresholds(loaded))
        return Alert.objects.filter(surgery__in=loaded).count() - before

    def _events_and_assessments(self, surgeries: list[Surgery]) -> None:
        rng, rates = self.rng, self.rates
        events, scores = [], []
        for surgery in surgeries:
            if rng.random() < rates.event:
                at = surgery.performed_at + timedelta(days=rng.randint(1, 400))
                if at < self.now:
                    events.append(ClinicalEvent(
                        clinic_id=surgery.clinic_id, patient_id=surgery.patient_id,
                        surgery=surgery, occurred_at=at,
                        code=rng.choice(["new_radicular_pain", "infection_signs",
                                         "positional_headache", "pain_recurrence"]),
                    ))  # fmt: skip
            if rng.random() >= rates.assessments:
                continue
            if self.effects.prom_improvement:
                scores += self._planted_scores(surgery)
            else:
                pain = rng.randint(5, 9)
                for day in (0, 90, 365):
                    at = surgery.performed_at + timedelta(days=day, hours=2)
                    if at >= self.now:
                        break
                    pain = max(0, min(10, pain - rng.randint(0, 4) + rng.randint(0, 1)))
                    scores.append(Assessment(
                        clinic_id=surgery.clinic_id, patient_id=surgery.patient_id,
                        surgery=surgery, assessed_at=at, nrs_back=pain,
                        nrs_leg=max(0, pain - 1), odi=min(100, pain * 8),
                    ))  # fmt: skip
        ClinicalEvent.objects.bulk_create(events, batch_size=BATCH)
        Assessment.objects.bulk_create(scores, batch_size=BATCH)
        self.counts.events += len(events)
        self.counts.assessments += len(scores)

    def _planted_scores(self, surgery: Surgery) -> list[Assessment]:
        """Baseline on the day before surgery, then 3 and 12 months: improvement of the
        planted size (half of it at 3 months) plus normal noise, kept on the scale."""
        rng, effects, scores = self.rng, self.effects, []
        baseline = {"nrs_back": rng.randint(6, 9), "nrs_leg": rng.randint(6, 9),
                    "odi": rng.randint(45, 75)}  # fmt: skip
        top = {"nrs_back": 10, "nrs_leg": 10, "odi": 100}
        for day, share in ((-1, 0.0), (90, 0.5), (365, 1.0)):
            at = surgery.performed_at + timedelta(days=day, hours=2)
            if at >= self.now:
                break
            values = {
                name: baseline[name] if not share else max(0, min(top[name], round(
                    baseline[name] - share * effects.prom_improvement.get(name, 0)
                    + rng.gauss(0, effects.prom_noise[name])
                )))
                for name in baseline
            }  # fmt: skip
            scores.append(Assessment(
                clinic_id=surgery.clinic_id, patient_id=surgery.patient_id, surgery=surgery,
                assessed_at=at, **values,
            ))  # fmt: skip
        return scores


class _triggers_off:
    """Skip the audit triggers for a synthetic load, when the role is allowed to."""

    def __enter__(self):
        self.switched = False
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            if cursor.fetchone()[0]:
                cursor.execute("SET LOCAL session_replication_role = replica")
                self.switched = True
        return self

    def __exit__(self, *exc):
        return False


# --- The benchmark's cohort (manage.py bench), generated once and kept ------------------

SEED = 1
TODAY = date(2026, 11, 1)  # fixed, so that a seed gives the same cohort on any day


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
    # Fresh statistics: the plans measured are those of a settled database.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return patients - have
