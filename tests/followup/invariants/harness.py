"""Plays a random history onto a patient through the public write paths, builds the
same final records once in time order on a second patient, and states the invariants.

Writes go through the ORM (signals mark surgeries stale) or the REST API as a staff
member; deletions go through the ORM, as the admin does (the API has no DELETE). The
follow-up runs in-process: `refresh.refresh_many(<stale surgeries>, now)` then
`sweep.run(now)`, with the clock moved by time_machine. No record is dated after it.
"""

from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import note
from hypothesis.errors import InvalidArgument
from rest_framework.test import APIClient

from followup.models import Alert, Checkpoint, plan_of
from followup.models.alerts import DEADLINE_CODES
from followup.pipeline import evaluation, refresh, sweep
from followup.pipeline import waivers as checkpoint_actions
from imaging.models import Finding, ImagingExam
from patients.levels import validate_level
from patients.models import Assessment, ClinicalEvent, EventSource, Patient, Surgery

from . import history as h

ZONE = ZoneInfo("Europe/Paris")  # DST moves local midnights against UTC
FIRST_DAY = date(2024, 1, 15)
FUSIONS = {"tlif", "plif", "alif", "xlif", "posterolateral_fusion"}
REASON = "Decided with the patient."


def local_at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZONE)


def local_date(when: datetime) -> date:
    return timezone.localtime(when, ZONE).date()


def hardware_for(procedure: str) -> list[str]:
    if procedure not in FUSIONS:
        return []
    cage = ["interbody_cage"] if procedure in {"tlif", "plif", "alif", "xlif"} else []
    return ["pedicle_screws", "rods", *cage]


def canonical(level: str) -> str:
    """Our own reading of CLINICAL_RULES §3 (`l4-l5`, `L4/L5`, `L4-5` are `L4-L5`), kept
    apart from the service's so that a level stored as sent shows up as a difference."""
    text = level.strip().upper().replace("/", "-")
    if "-" not in text:
        return text
    upper, lower = text.split("-")
    return f"{upper}-{upper[0] + lower if lower.isdigit() else lower}"


def _orm_takes_variants() -> bool:
    """Today the level validators refuse `L4/L5`: until the write paths normalise the
    spellings, ORM writes get canonical levels and only the API path gets the variants."""
    try:
        validate_level("L4/L5")
    except ValidationError:
        return False
    return True


ORM_TAKES_VARIANTS = _orm_takes_variants()


class Skip(Exception):
    """The step names nothing that exists, or would write an impossible record."""


class Runner:
    """One patient and what was written to it; `log` tells the story for a counterexample."""

    def __init__(self, clinic, user, prefix: str):
        self.clinic, self.user, self.prefix = clinic, user, prefix
        self.patient = Patient.objects.create(
            clinic=clinic, mrn=f"{prefix}-0001", family_name=f"Patient {prefix}"
        )
        self.api = APIClient()
        self.surgeries: list[int] = []  # ids, in the order they were written
        self.exams: list[int] = []
        self.events: list[int] = []
        self.event_labels: dict[int, str] = {}
        self.assessments: list[int] = []
        self.clock = local_at(FIRST_DAY, 0)
        self.serial = 0
        self.log: list[str] = []

    # --- the story ----------------------------------------------------------------------

    def say(self, text: str) -> None:
        line = f"[{self.prefix} {timezone.localtime(self.clock, ZONE):%Y-%m-%d %H:%M}] {text}"
        self.log.append(line)
        try:
            note(line)
        except InvalidArgument:  # outside Hypothesis (a hand-written history)
            print(line)

    def label(self, surgery_id: int | None) -> str:
        return f"S{self.surgeries.index(surgery_id)}" if surgery_id in self.surgeries else "-"

    def since(self, when: datetime, surgery_id: int | None = None) -> str:
        """`S0+41d 13h`: the local day since a surgery, as the rules count it."""
        surgery = Surgery.objects.filter(pk=surgery_id).first() if surgery_id else None
        hour = timezone.localtime(when, ZONE).hour
        if surgery is None:
            return f"{timezone.localtime(when, ZONE):%Y-%m-%d} {hour}h"
        days = (local_date(when) - local_date(surgery.performed_at)).days
        return f"{self.label(surgery.pk)}{days:+d}d {hour}h"

    # --- writing ------------------------------------------------------------------------

    def at(self, when: datetime) -> None:
        """Records are never dated after the clock: the clock moves up to them."""
        self.clock = max(self.clock, when)

    def call(self, method: str, url: str, body: dict | None = None):
        self.api.force_login(self.user)  # the session of a clock long past has expired
        response = getattr(self.api, method)(url, body, format="json")
        assert response.status_code in (200, 201), (
            f"{method.upper()} {url} {body} answered {response.status_code}: "
            f"{response.content[:600]!r}"
        )
        return response.json()

    def level(self, level: str, step: h.Step) -> str:
        if step.via == "api" or ORM_TAKES_VARIANTS:
            return h.spell(level, step.spelling)
        return level

    def pick(self, ids: list[int], selector: int, what: str) -> int:
        if not ids:
            raise Skip(f"no {what} yet")
        return ids[selector % len(ids)]

    def surgery(self, selector: int) -> Surgery:
        return Surgery.objects.get(pk=self.pick(self.surgeries, selector, "surgery"))

    def findings(self, specs, step: h.Step) -> list[dict]:
        return [
            {"code": f.code, "value": f.value, "level": self.level(f.level, step), "side": f.side}
            for f in specs
        ]

    def play(self, history: h.History) -> None:
        for step in history.steps:
            self.clock += step.wait
            try:
                with time_machine.travel(self.clock, tick=False):
                    self.apply(step, history)
            except Skip as why:
                self.say(f"skipped {type(step).__name__}: {why}")
                continue
            if step.refresh:
                self.follow_up()
                check_live_causes(self.patient, self.clock)
                check_baselines(self.patient)
        self.clock += history.final_wait
        self.say(f"final clock (+{history.final_wait})")
        self.follow_up()

    def follow_up(self) -> None:
        with time_machine.travel(self.clock, tick=False):
            stale = list(
                Surgery.objects.filter(
                    patient=self.patient, plan__stale_since__isnull=False
                ).values_list("pk", flat=True)
            )
            refresh.refresh_many(stale, self.clock)
            sweep.run(self.clock)

    def waive_as(self, surgery: Surgery, original: Checkpoint, event=None) -> None:
        """Waive, on this patient, the checkpoint that `original` is on the other one."""
        found = Checkpoint.objects.filter(surgery=surgery, code=original.code)
        if event is not None:
            found = found.filter(event=event)
        checkpoint = found.filter(waived_at__isnull=True, satisfied_by__isnull=True).first()
        if checkpoint is None:
            self.say(f"cannot waive {original.code} of {surgery}: no open checkpoint")
            return
        checkpoint_actions.waive(checkpoint, REASON, self.user, self.clock)

    def follow_up_stale(self) -> None:
        stale = Surgery.objects.filter(patient=self.patient, plan__stale_since__isnull=False)
        refresh.refresh_many(list(stale.values_list("pk", flat=True)), self.clock)

    def apply(self, step: h.Step, history: h.History) -> None:
        getattr(self, f"do_{type(step).__name__}")(step, history)

    # --- surgeries ----------------------------------------------------------------------

    def do_AddSurgery(self, step: h.AddSurgery, history: h.History) -> None:
        spec = history.surgeries[step.n]
        when = local_at(FIRST_DAY + timedelta(days=spec.day), spec.hour)
        self.at(when)
        levels = [self.level(level, step) for level in spec.levels]
        fields = {"procedure": spec.procedure, "hardware": hardware_for(spec.procedure)}
        with time_machine.travel(self.clock, tick=False):
            if step.via == "api":
                body = {"patient": self.patient.pk, "performed_at": when.isoformat(),
                        "levels": levels, **fields}  # fmt: skip
                pk = self.call("post", "/api/v1/surgeries/", body)["id"]
            else:
                pk = Surgery.objects.create(
                    patient=self.patient, performed_at=when, levels=levels, **fields
                ).pk
        self.surgeries.append(pk)
        self.say(f"{step.via} surgery S{len(self.surgeries) - 1}: {spec.procedure} {levels} "
                 f"on {timezone.localtime(when, ZONE):%Y-%m-%d %H:%M}")  # fmt: skip

    def do_CorrectSurgery(self, step: h.CorrectSurgery, history: h.History) -> None:
        surgery = self.surgery(step.surgery)
        changes: dict = {}
        if step.procedure is not None:
            changes["procedure"] = step.procedure
            changes["hardware"] = hardware_for(step.procedure)
        if step.levels is not None:
            changes["levels"] = [self.level(level, step) for level in step.levels]
        when = surgery.performed_at + timedelta(days=step.shift_days)
        records = [
            *surgery.exams.values_list("performed_at", flat=True),
            *surgery.clinical_events.values_list("occurred_at", flat=True),
            *surgery.assessments.values_list("assessed_at", flat=True),
        ]
        taken = Surgery.objects.filter(patient=self.patient, performed_at=when).exclude(
            pk=surgery.pk
        )
        if step.shift_days and all(when <= r for r in records) and not taken.exists():
            changes["performed_at"] = when
            self.at(when)
        if not changes:
            raise Skip("nothing to correct")
        with time_machine.travel(self.clock, tick=False):
            if step.via == "api":
                body = {**changes}
                if "performed_at" in body:
                    body["performed_at"] = when.isoformat()
                self.call("patch", f"/api/v1/surgeries/{surgery.pk}/", body)
            else:
                for name, value in changes.items():
                    setattr(surgery, name, value)
                surgery.save()
        shown = {k: (self.since(v) if k == "performed_at" else v) for k, v in changes.items()}
        self.say(f"{step.via} correct surgery {self.label(surgery.pk)}: {shown}")

    # --- exams --------------------------------------------------------------------------

    def do_AddExam(self, step: h.AddExam, history: h.History) -> None:
        surgery = self.surgery(step.surgery)
        when = local_at(local_date(surgery.performed_at) + timedelta(days=step.day), step.hour)
        self.at(when)
        self.serial += 1
        accession = f"{self.prefix}{self.serial}"
        contrast = step.contrast if step.modality == "MR" else "none"
        findings = self.findings(step.findings, step)
        with time_machine.travel(self.clock, tick=False):
            if step.via == "api":
                body = {"patient": self.patient.pk, "modality": step.modality,
                        "contrast": contrast, "performed_at": when.isoformat(),
                        "accession_number": accession, "effective_dose_msv": step.dose,
                        "findings": findings}  # fmt: skip
                pk = self.call("post", "/api/v1/exams/", body)["id"]
            else:
                exam = ImagingExam.objects.create(
                    patient=self.patient,
                    # What the service picks when nobody says (the API does the same).
                    surgery=Surgery.objects.latest_before(self.patient, when),
                    modality=step.modality,
                    contrast=contrast,
                    performed_at=when,
                    accession_number=accession,
                    effective_dose_msv=step.dose,
                )
                Finding.objects.bulk_create(Finding(exam=exam, **f) for f in findings)
                pk = exam.pk
        self.exams.append(pk)
        exam = ImagingExam.objects.get(pk=pk)
        self.say(f"{step.via} exam {accession} {step.modality}/{contrast} dose {step.dose} at "
                 f"{self.since(when, exam.surgery_id)} (of {self.label(exam.surgery_id)}), "
                 f"findings {[(f['code'], f['value'], f['level']) for f in findings]}")  # fmt: skip

    def do_CorrectExam(self, step: h.CorrectExam, history: h.History) -> None:
        exam = ImagingExam.objects.get(pk=self.pick(self.exams, step.exam, "exam"))
        changes: dict = {}
        if step.day is not None and exam.surgery is not None:
            hour = timezone.localtime(exam.performed_at, ZONE).hour
            day = local_date(exam.surgery.performed_at) + timedelta(days=step.day)
            changes["performed_at"] = max(
                local_at(day, hour), exam.surgery.performed_at + timedelta(hours=1)
            )
            self.at(changes["performed_at"])
        if step.modality is not None:
            changes["modality"] = step.modality
            if step.modality != "MR":
                changes["contrast"] = "none"
        findings = None if step.findings is None else self.findings(step.findings, step)
        with time_machine.travel(self.clock, tick=False):
            if step.via == "api":
                body = {**changes}
                if "performed_at" in body:
                    body["performed_at"] = body["performed_at"].isoformat()
                if findings is not None:
                    body["findings"] = findings
                self.call("patch", f"/api/v1/exams/{exam.pk}/", body)
            else:
                for name, value in changes.items():
                    setattr(exam, name, value)
                if findings is not None:
                    exam.findings.all().delete()
                    Finding.objects.bulk_create(Finding(exam=exam, **f) for f in findings)
                exam.save()  # findings are written with their exam: its signal covers them
        shown = {k: (self.since(v, exam.surgery_id) if k == "performed_at" else v)
                 for k, v in changes.items()}  # fmt: skip
        if findings is not None:
            shown["findings"] = [(f["code"], f["value"], f["level"]) for f in findings]
        self.say(f"{step.via} correct exam {exam.accession_number}: {shown}")

    def do_MoveExam(self, step: h.MoveExam, history: h.History) -> None:
        exam = ImagingExam.objects.get(pk=self.pick(self.exams, step.exam, "exam"))
        surgery = self.surgery(step.surgery)
        if surgery.performed_at > exam.performed_at:
            raise Skip(f"{exam.accession_number} is from before {self.label(surgery.pk)}")
        with time_machine.travel(self.clock, tick=False):
            if step.via == "api":
                self.call("patch", f"/api/v1/exams/{exam.pk}/", {"surgery": surgery.pk})
            else:
                exam.surgery = surgery
                exam.save()
        self.say(f"{step.via} move exam {exam.accession_number} to {self.label(surgery.pk)}")

    def do_DeleteExam(self, step: h.DeleteExam, history: h.History) -> None:
        pk = self.pick(self.exams, step.exam, "exam")
        exam = ImagingExam.objects.get(pk=pk)
        exam.delete()
        self.exams.remove(pk)
        self.say(f"orm delete exam {exam.accession_number}")

    # --- clinical events and assessments ------------------------------------------------

    def do_AddEvent(self, step: h.AddEvent, history: h.History) -> None:
        surgery = self.surgery(step.surgery)
        when = surgery.performed_at + timedelta(days=step.day, hours=step.hours)
        self.at(when)
        with time_machine.travel(self.clock, tick=False):
            if step.via == "api":
                body = {"patient": self.patient.pk, "code": step.code,
                        "occurred_at": when.isoformat()}  # fmt: skip
                pk = self.call("post", "/api/v1/clinical-events/", body)["id"]
            else:
                pk = ClinicalEvent.objects.create(
                    patient=self.patient,
                    surgery=Surgery.objects.latest_before(self.patient, when),
                    code=step.code,
                    occurred_at=when,
                ).pk
        self.events.append(pk)
        self.event_labels[pk] = f"E{len(self.event_labels)}"
        event = ClinicalEvent.objects.get(pk=pk)
        self.say(f"{step.via} event {self.event_labels[pk]} {step.code} at "
                 f"{self.since(when, event.surgery_id)}")  # fmt: skip

    def do_CorrectEvent(self, step: h.CorrectEvent, history: h.History) -> None:
        event = ClinicalEvent.objects.get(pk=self.pick(self.events, step.event, "event"))
        changes: dict = {}
        if step.code is not None:
            changes["code"] = step.code
        if step.shift_hours:
            changes["occurred_at"] = event.occurred_at + timedelta(hours=step.shift_hours)
            self.at(changes["occurred_at"])
        if not changes:
            raise Skip("nothing to correct")
        with time_machine.travel(self.clock, tick=False):
            if step.via == "api":
                body = {**changes}
                if "occurred_at" in body:
                    body["occurred_at"] = body["occurred_at"].isoformat()
                self.call("patch", f"/api/v1/clinical-events/{event.pk}/", body)
            else:
                for name, value in changes.items():
                    setattr(event, name, value)
                event.save()
        self.say(f"{step.via} correct event {self.event_labels[event.pk]}: "
                 f"code {step.code}, +{step.shift_hours}h")  # fmt: skip

    def do_DeleteEvent(self, step: h.DeleteEvent, history: h.History) -> None:
        pk = self.pick(self.events, step.event, "event")
        ClinicalEvent.objects.get(pk=pk).delete()
        self.events.remove(pk)
        self.say(f"orm delete event {self.event_labels[pk]}")

    def do_AddAssessment(self, step: h.AddAssessment, history: h.History) -> None:
        surgery = self.surgery(step.surgery)
        when = surgery.performed_at + timedelta(days=step.day, hours=2)
        self.at(when)
        with time_machine.travel(self.clock, tick=False):
            if step.via == "api":
                body = {"patient": self.patient.pk, "assessed_at": when.isoformat(),
                        "nrs_back": step.nrs_back}  # fmt: skip
                pk = self.call("post", "/api/v1/assessments/", body)["id"]
            else:
                pk = Assessment.objects.create(
                    patient=self.patient,
                    surgery=Surgery.objects.latest_before(self.patient, when),
                    assessed_at=when,
                    nrs_back=step.nrs_back,
                ).pk
        self.assessments.append(pk)
        assessment = Assessment.objects.get(pk=pk)
        self.say(f"{step.via} assessment A{len(self.assessments) - 1} NRS back {step.nrs_back} "
                 f"at {self.since(when, assessment.surgery_id)}")  # fmt: skip

    def do_CorrectAssessment(self, step: h.CorrectAssessment, history: h.History) -> None:
        pk = self.pick(self.assessments, step.assessment, "assessment")
        with time_machine.travel(self.clock, tick=False):
            if step.via == "api":
                self.call("patch", f"/api/v1/assessments/{pk}/", {"nrs_back": step.nrs_back})
            else:
                assessment = Assessment.objects.get(pk=pk)
                assessment.nrs_back = step.nrs_back
                assessment.save()
        self.say(f"{step.via} correct assessment A{self.assessments.index(pk)}: "
                 f"NRS back {step.nrs_back}")  # fmt: skip

    def do_DeleteAssessment(self, step: h.DeleteAssessment, history: h.History) -> None:
        pk = self.pick(self.assessments, step.assessment, "assessment")
        Assessment.objects.get(pk=pk).delete()
        self.say(f"orm delete assessment A{self.assessments.index(pk)}")
        self.assessments.remove(pk)

    # --- waivers and waiting ------------------------------------------------------------

    def waive(self, checkpoint: Checkpoint, step: h.Step) -> None:
        with time_machine.travel(self.clock, tick=False):
            if step.via == "api":
                self.call("post", f"/api/v1/checkpoints/{checkpoint.pk}/waive/", {"reason": REASON})
            else:
                checkpoint_actions.waive(checkpoint, REASON, self.user, self.clock)

    def do_Waive(self, step: h.Waive, history: h.History) -> None:
        surgery = self.surgery(step.surgery)
        checkpoint = Checkpoint.objects.filter(
            surgery=surgery, code=step.code, satisfied_by__isnull=True, waived_at__isnull=True
        ).first()
        if checkpoint is None:
            raise Skip(f"no open {step.code} on {self.label(surgery.pk)}")
        self.waive(checkpoint, step)
        self.say(f"{step.via} waive {step.code} of {self.label(surgery.pk)}")

    def do_WaiveWorkup(self, step: h.WaiveWorkup, history: h.History) -> None:
        pk = self.pick(self.events, step.event, "event")
        checkpoint = Checkpoint.objects.filter(
            event_id=pk, satisfied_by__isnull=True, waived_at__isnull=True
        ).first()
        if checkpoint is None:
            raise Skip(f"no open work-up for {self.event_labels[pk]}")
        self.waive(checkpoint, step)
        self.say(f"{step.via} waive the work-up of {self.event_labels[pk]}")

    def do_Wait(self, step: h.Wait, history: h.History) -> None:
        self.say(f"wait {step.wait}")


# --- (a) the same final records, entered once, in time order ------------------------------


def enter_once(story: Runner, clinic, user) -> Runner:
    """A second patient of the clinic with the story's final records, written once in
    time order at the final clock, then refreshed and swept once.

    Surgeries come first and their waived checkpoints are waived as soon as they are
    planned; a waived work-up is waived as soon as its event is planned. A waiver is a
    staff decision about a planned checkpoint, and a waived checkpoint takes no exam
    (CLINICAL_RULES §2), so the waiver must be there before the exams that come after.
    Detected events are not records: the refresh detects them again from the scores.
    Levels are written in our canonical spelling (`canonical`), not copied.
    """
    reference = Runner(clinic, user, "R")
    reference.clock = story.clock
    patient = story.patient
    waived = list(
        Checkpoint.objects.filter(patient=patient, waived_at__isnull=False).select_related(
            "surgery", "event"
        )
    )
    surgeries = {}
    with time_machine.travel(story.clock, tick=False):
        for surgery in Surgery.objects.filter(patient=patient).order_by("performed_at", "pk"):
            surgeries[surgery.pk] = Surgery.objects.create(
                patient=reference.patient,
                performed_at=surgery.performed_at,
                procedure=surgery.procedure,
                levels=[canonical(level) for level in surgery.levels],
                hardware=surgery.hardware,
                approach=surgery.approach,
            )
            reference.surgeries.append(surgeries[surgery.pk].pk)
        reference.follow_up_stale()
        for checkpoint in waived:
            if checkpoint.event_id is None and checkpoint.surgery_id in surgeries:
                reference.waive_as(surgeries[checkpoint.surgery_id], checkpoint)

        records = [
            *((e.occurred_at, 0, e.pk, e) for e in ClinicalEvent.objects.filter(
                patient=patient, source=EventSource.RECORDED)),
            *((a.assessed_at, 1, a.pk, a) for a in Assessment.objects.filter(patient=patient)),
            *((x.performed_at, 2, x.pk, x) for x in ImagingExam.objects.filter(
                patient=patient).prefetch_related("findings")),
        ]  # fmt: skip
        waived_workups = {c.event_id: c for c in waived if c.event_id is not None}
        for _, _, _, record in sorted(records, key=lambda r: r[:3]):
            mapped = surgeries.get(record.surgery_id)
            if isinstance(record, ClinicalEvent):
                event = ClinicalEvent.objects.create(
                    patient=reference.patient, surgery=mapped, code=record.code,
                    occurred_at=record.occurred_at,
                )  # fmt: skip
                if record.pk in waived_workups:
                    reference.follow_up_stale()
                    reference.waive_as(mapped, waived_workups[record.pk], event=event)
            elif isinstance(record, Assessment):
                Assessment.objects.create(
                    patient=reference.patient, surgery=mapped, assessed_at=record.assessed_at,
                    nrs_back=record.nrs_back, nrs_leg=record.nrs_leg, odi=record.odi,
                )  # fmt: skip
            else:
                exam = ImagingExam.objects.create(
                    patient=reference.patient, surgery=mapped, modality=record.modality,
                    contrast=record.contrast, performed_at=record.performed_at,
                    views=record.views, effective_dose_msv=record.effective_dose_msv,
                    accession_number="R" + record.accession_number.removeprefix(story.prefix),
                )  # fmt: skip
                Finding.objects.bulk_create(
                    Finding(exam=exam, code=f.code, value=f.value, level=canonical(f.level),
                            side=f.side)
                    for f in record.findings.all()
                )  # fmt: skip
    reference.follow_up()
    return reference


def _surgery_key(surgery: Surgery | None):
    if surgery is None:
        return None
    return (timezone.localtime(surgery.performed_at, ZONE).isoformat(), surgery.procedure)


def _accession(exam: ImagingExam | None, prefix: str) -> str | None:
    return None if exam is None else exam.accession_number.removeprefix(prefix)


def checkpoints_of(patient: Patient, prefix: str) -> list[tuple]:
    rows = Checkpoint.objects.filter(patient=patient).select_related("surgery", "satisfied_by")
    return sorted(
        (
            (
                _surgery_key(c.surgery),
                c.code,
                timezone.localtime(c.opens_at, ZONE).isoformat(),
                timezone.localtime(c.due_at, ZONE).isoformat(),
                _accession(c.satisfied_by, prefix),
                c.late,
                c.waived_at is not None,
            )
            for c in rows
        ),
        key=repr,
    )


def active_alerts_of(patient: Patient, prefix: str) -> list[tuple]:
    rows = (
        Alert.objects.filter(patient=patient)
        .exclude(status="resolved")
        .select_related("surgery", "exam", "checkpoint")
    )
    exams = {e.pk: e for e in ImagingExam.objects.filter(patient=patient)}

    def subject(alert: Alert) -> str:
        kind, _, rest = alert.subject.partition(":")
        if kind == "checkpoint":
            c = alert.checkpoint
            if c is None:
                return "checkpoint:<gone>"
            return f"checkpoint:{c.code}@{timezone.localtime(c.opens_at, ZONE).isoformat()}"
        if kind == "exam" and rest.isdecimal():
            return f"exam:{_accession(exams.get(int(rest)), prefix) or '<gone>'}"
        return alert.subject

    return sorted(
        (
            (a.code, _surgery_key(a.surgery), subject(a), a.severity, _accession(a.exam, prefix))
            for a in rows
        ),
        key=repr,
    )


def assert_same(what: str, story: list, reference: list) -> None:
    story_only = list((Counter(map(repr, story)) - Counter(map(repr, reference))).elements())
    reference_only = list((Counter(map(repr, reference)) - Counter(map(repr, story))).elements())
    assert not story_only and not reference_only, (
        f"{what} differ from the same final records entered once in time order.\n"
        f"  only after the history: {story_only}\n"
        f"  only when entered once: {reference_only}"
    )


# --- (b) live causes ---------------------------------------------------------------------


def _live(checkpoint: Checkpoint, now: datetime) -> bool:
    """CLINICAL_RULES §2/§4, stated here: a required exam or work-up checkpoint neither
    satisfied nor waived whose overdue time has passed."""
    return (
        checkpoint.kind in ("exam", "workup")
        and checkpoint.required
        and checkpoint.satisfied_by_id is None
        and checkpoint.waived_at is None
        and checkpoint.overdue_at <= now
    )


def expected_finding_alerts(patient: Patient) -> set[tuple]:
    """What the findings rules (`rules.run_all`, through the evaluation module's own
    context builders) say about the patient's current records.

    This half of (b) is a CONSISTENCY check, not an independent oracle: it proves that
    the stored alerts are what the service would compute from the records now (nothing
    left over from records since changed, moved or deleted), not that the rules are
    right. Keep it on the evaluation module's public-ish helpers; adapt here if they move.
    """
    surgeries = list(
        Surgery.objects.filter(patient=patient).select_related("clinic", "patient", "plan")
    )
    if not surgeries:
        return set()
    thresholds = evaluation.pinned_thresholds(surgeries)
    milestones = evaluation._milestones(surgeries)
    limits = {
        s.pk: evaluation.limits_of(thresholds[s.pk], milestones.get(plan_of(s).protocol_id, {}))
        for s in surgeries
    }
    wanted = evaluation.wanted_alerts(evaluation._read(surgeries)[patient.pk], limits)
    return {
        (surgery_id, code, subject, str(raised.severity), exam_id)
        for (surgery_id, code, subject), (raised, exam_id) in wanted.items()
    }


def check_live_causes(patient: Patient, now: datetime) -> None:
    checkpoints = {c.pk: c for c in Checkpoint.objects.filter(patient=patient)}
    active = list(Alert.objects.filter(patient=patient).exclude(status="resolved"))
    problems = []

    deadline = [a for a in active if a.code in DEADLINE_CODES]
    for alert in deadline:
        checkpoint = checkpoints.get(alert.checkpoint_id)
        if checkpoint is None:
            problems.append(f"{alert.code} {alert.subject} is open and its checkpoint is gone")
        elif not _live(checkpoint, now):
            problems.append(
                f"{alert.code} open for {checkpoint.code} (opens {checkpoint.opens_at}) which "
                f"is satisfied by {checkpoint.satisfied_by_id}, waived {checkpoint.waived_at}, "
                f"overdue at {checkpoint.overdue_at}"
            )
    for checkpoint in checkpoints.values():
        if not _live(checkpoint, now):
            continue
        code = "workup_overdue" if checkpoint.kind == "workup" else "checkpoint_overdue"
        mine = [a for a in deadline if a.checkpoint_id == checkpoint.pk and a.code == code]
        if len(mine) != 1:
            problems.append(
                f"{checkpoint.code} (opens {checkpoint.opens_at}, overdue at "
                f"{checkpoint.overdue_at}) is overdue and has {len(mine)} open {code} alerts"
            )

    findings = [a for a in active if a.code not in DEADLINE_CODES]
    exams = set(ImagingExam.objects.filter(patient=patient).values_list("pk", flat=True))
    for alert in findings:
        if alert.exam_id not in exams:
            problems.append(f"{alert.code} {alert.subject} is open and its exam is gone")
    twice = Counter((a.surgery_id, a.code, a.subject) for a in active)
    problems += [f"two open alerts for one cause {key}" for key, n in twice.items() if n > 1]
    stored = {(a.surgery_id, a.code, a.subject, a.severity, a.exam_id) for a in findings}
    expected = expected_finding_alerts(patient)
    if stored != expected:
        problems.append(
            f"finding alerts open without a live cause: {sorted(stored - expected)}; "
            f"live causes without an open alert: {sorted(expected - stored)}"
        )
    assert not problems, f"{patient.family_name} at {now}:\n  " + "\n  ".join(problems)


# --- (c) the baseline is an early film ---------------------------------------------------


def check_baselines(patient: Patient) -> None:
    """CLINICAL_RULES §2: what satisfies `baseline_film` is a radiograph of the patient
    performed in the baseline window, or, late, after it but before the bridging
    window opens (a film in the bridging window or later is never the baseline)."""
    problems = []
    for baseline in Checkpoint.objects.filter(
        patient=patient, code="baseline_film", satisfied_by__isnull=False
    ).select_related("satisfied_by"):
        film = baseline.satisfied_by
        bridging = Checkpoint.objects.filter(
            surgery=baseline.surgery_id, code="bridging_film"
        ).first()
        early = baseline.opens_at <= film.performed_at < baseline.due_at
        late = bridging is not None and baseline.due_at <= film.performed_at < bridging.opens_at
        if film.patient_id != patient.pk or film.modality != "XR" or not (early or late):
            problems.append(
                f"baseline_film (window {baseline.opens_at} to {baseline.due_at}) satisfied by "
                f"{film.modality} {film.accession_number} of {film.performed_at} (bridging "
                f"opens {bridging and bridging.opens_at})"
            )
    assert not problems, f"{patient.family_name}:\n  " + "\n  ".join(problems)
