"""A patient's whole story in time order: one list of typed entries, in 8 queries.

Used by the API (`/api/v1/patients/{id}/timeline/`) and by the admin's picture.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from followup.models import Alert, Checkpoint
from imaging.models import Finding, ImagingExam
from patients.models import Assessment, ClinicalEvent, Patient, Surgery

from .dose import DoseWindow

API = "/api/v1"


@dataclass
class Entry:
    type: str  # surgery, checkpoint, milestone, workup, prom, exam, event, assessment, alert
    at: datetime
    id: int
    url: str
    surgery: int | None
    data: dict = field(default_factory=dict)


# Same instant: the surgery first, then what it planned, then what happened.
ORDER = {"surgery": 0, "milestone": 1, "checkpoint": 1, "workup": 1, "prom": 1, "event": 2,
         "exam": 3, "assessment": 4, "alert": 5}  # fmt: skip


def build(patient: Patient, now: datetime) -> list[Entry]:
    entries: list[Entry] = []
    for surgery in Surgery.objects.filter(patient=patient):
        entries.append(Entry("surgery", surgery.performed_at, surgery.pk,
                             f"{API}/surgeries/{surgery.pk}/", surgery.pk, {
            "procedure": surgery.procedure, "levels": surgery.levels,
            "hardware": surgery.hardware, "surgeon": surgery.surgeon,
        }))  # fmt: skip
    for c in Checkpoint.objects.filter(patient=patient):
        kind = "checkpoint" if c.kind == "exam" else c.kind
        entries.append(Entry(kind, c.opens_at, c.pk, f"{API}/checkpoints/{c.pk}/", c.surgery_id, {
            "code": c.code, "label": c.label, "opens_at": c.opens_at, "due_at": c.due_at,
            "status": c.status_at(now), "satisfied_by": c.satisfied_by_id, "late": c.late,
            "modalities": c.modalities, "recommendation": c.recommendation,
            "event": c.event_id, "booked_at": c.booked_at, "booked_order": c.booked_order,
            "answered_by": c.answered_by_id, "instruments": c.instruments,
        }))  # fmt: skip
    # Findings by a join on the patient, as plain rows: a prefetch would build a model
    # and a related manager for each of hundreds of exams.
    findings = defaultdict(list)
    for exam_id, code, value, level, side in (
        Finding.objects.filter(exam__patient=patient).order_by("pk")
        .values_list("exam_id", "code", "value", "level", "side")
    ):  # fmt: skip
        findings[exam_id].append({"code": code, "value": value, "level": level, "side": side})
    exams = list(ImagingExam.objects.filter(patient=patient).values(
        "pk", "performed_at", "surgery_id", "modality", "contrast", "accession_number",
        "effective_dose_msv",
    ))  # fmt: skip
    window = DoseWindow.of_clinic(patient.clinic_id)
    doses = [(exam["performed_at"], exam["effective_dose_msv"]) for exam in exams]
    for exam in exams:
        dose = exam["effective_dose_msv"]
        entries.append(Entry("exam", exam["performed_at"], exam["pk"],
                             f"{API}/exams/{exam['pk']}/", exam["surgery_id"], {
            "modality": exam["modality"], "contrast": exam["contrast"],
            "accession_number": exam["accession_number"], "findings": findings[exam["pk"]],
            "effective_dose_msv": None if dose is None else str(dose),
            # The rolling total over the dose window ending at this exam (the rule's sum).
            "dose_window_msv": str(window.total(doses, exam["performed_at"])),
        }))  # fmt: skip
    for event in ClinicalEvent.objects.filter(patient=patient):
        entries.append(Entry("event", event.occurred_at, event.pk,
                             f"{API}/clinical-events/{event.pk}/", event.surgery_id, {
            "code": event.code, "source": event.source, "notes": event.notes,
        }))  # fmt: skip
    for a in Assessment.objects.filter(patient=patient):
        entries.append(Entry("assessment", a.assessed_at, a.pk, f"{API}/assessments/{a.pk}/",
                             a.surgery_id, {"nrs_back": a.nrs_back, "nrs_leg": a.nrs_leg,
                                            "odi": a.odi}))  # fmt: skip
    for alert in Alert.objects.filter(patient=patient):
        entries.append(Entry("alert", alert.created_at, alert.pk, f"{API}/alerts/{alert.pk}/",
                             alert.surgery_id, {
            "code": alert.code, "severity": alert.severity, "status": alert.status_at(now),
            "message": alert.message, "checkpoint": alert.checkpoint_id, "exam": alert.exam_id,
        }))  # fmt: skip
    entries.sort(key=lambda e: (e.at, ORDER[e.type], e.id))
    return entries


def dose(patient: Patient, entries: list[Entry], now: datetime) -> dict:
    """The rolling total of the exams' effective doses over the dose window ending now."""
    doses = [
        (e.at, Decimal(e.data["effective_dose_msv"]))
        for e in entries
        if e.type == "exam" and e.data["effective_dose_msv"] is not None
    ]
    return DoseWindow.of_clinic(patient.clinic_id).summary(doses, now)
