"""Each message type through the REST API's serializers: the same validation, and the
same signals (stale marks, refresh) once saved. A serializer's error becomes a
ContentError naming the segment and field the value came from.

A result or update about a patient the clinic does not follow is accepted and dropped
(`Ignored`), as the DICOM feed drops such a study: a radiology feed announces every
patient of the hospital, and the clinic follows its own.
"""

import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from rest_framework.exceptions import ValidationError

from followup.models import Checkpoint
from followup.pipeline import booking, merging
from imaging.api.bulk import existing_exam, read_exams, save_exams
from imaging.api.serializers import ExamSerializer
from imaging.models import Modality
from imaging.vocabulary import VOCABULARY
from patients.api.serializers import PatientSerializer
from patients.base.api.bulk import BulkLookup, checked
from patients.base.api.fields import ClinicDateTimeField, in_clinic_zone
from patients.locks import lock_patients
from patients.models import FollowupStatus, Patient, PatientIdentifier

from ..acting import FeedRequest
from .reading import (
    REQUIRED,
    UNKNOWN_KEY,
    ContentError,
    Ignored,
    Received,
    Segment,
    day,
    moment,
)

FINDINGS_SYSTEM = "SPINEFU"  # OBX-3's coding system for a structured finding
MODALITIES = {"CR": Modality.XR, "DX": Modality.XR, "XR": Modality.XR} | {
    m.value: m.value for m in Modality
}
SEX = {"F": "female", "M": "male", "O": "other", "A": "other", "U": "unknown", "N": "unknown"}
SIDES = {"L": "left", "R": "right", "B": "bilateral", "M": "midline"}
TEXT_TYPES = {"TX", "FT"}
BOOLEANS = {"Y": "true", "N": "false"}


@dataclass
class Context:
    clinic_id: int
    actor: str
    now: datetime
    touched: dict[str, list[int]] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)

    @property
    def request(self) -> FeedRequest:
        return FeedRequest(self.clinic_id, self.actor)

    def touch(self, kind: str, pk: int) -> None:
        ids = self.touched.setdefault(kind, [])
        if pk not in ids:
            ids.append(pk)


# --- patients -----------------------------------------------------------------------------


def mrn_of(pid: Segment) -> str:
    """PID-3: the identifier whose type (CX-5) is MR, else the first."""
    count = max(pid.repetitions(3), 1)
    for rep in range(1, count + 1):
        if pid.value(3, rep, 5).strip().upper() == "MR" and pid.value(3, rep).strip():
            return pid.value(3, rep).strip()
    return pid.required(3, "The patient identifier")


def followed_patient(ctx: Context, message: Received) -> tuple[Segment, Patient]:
    pid = message.first("PID")
    if pid is None:
        raise ContentError("PID", 3, "A PID segment is required.", code=REQUIRED)
    mrn = mrn_of(pid)
    ctx.summary["mrn"] = mrn
    patient = merging.resolve_mrn(ctx.clinic_id, mrn)
    if patient is None:
        raise Ignored("The clinic does not follow this patient (PID-3).")
    return pid, patient


PATIENT_PLACES = {"family_name": 5, "given_name": 5, "birth_date": 7, "sex": 8, "mrn": 3,
                  "followup_status": 30, "followup_status_reason": 29}  # fmt: skip


def patient_update(ctx: Context, message: Received) -> None:
    """ADT^A08 (and A31): names, birth date, sex; a death ends the follow-up."""
    pid, patient = followed_patient(ctx, message)
    data = {}
    if family := pid.value(5, 1, 1).strip():
        data["family_name"] = family
        data["given_name"] = pid.value(5, 1, 2).strip()
    if born := day(pid, 7, "The birth date"):
        data["birth_date"] = born
    if sex := pid.value(8).strip().upper():
        if sex not in SEX:
            raise pid.error(8, "The sex must be one of F, M, O, A, U, N (HL7 table 0001).")
        data["sex"] = SEX[sex]
    data |= _death(ctx, pid, patient)
    _save(ctx, PatientSerializer, data, patient, pid, PATIENT_PLACES, "patient")


def _death(ctx: Context, pid: Segment, patient: Patient) -> dict:
    died = day(pid, 29, "The date of death")
    indicator = pid.value(30).strip().upper()
    if indicator not in ("", "Y", "N"):
        raise pid.error(30, "The death indicator must be Y or N.")
    if not (died or indicator == "Y") or patient.followup_status == FollowupStatus.DECEASED:
        return {}
    ctx.summary["deceased"] = True
    when = f" on {died}" if died else ""
    return {
        "followup_status": FollowupStatus.DECEASED,
        "followup_status_reason": f"Death reported by {ctx.actor}{when}.",
    }


def patients_merge(ctx: Context, message: Received) -> None:
    """ADT^A40: the patient of MRG-1 into the one of PID-3."""
    pid = message.first("PID")
    mrg = message.first("MRG")
    if pid is None:
        raise ContentError("PID", 3, "A PID segment is required.", code=REQUIRED)
    if mrg is None:
        raise ContentError("MRG", 1, "An MRG segment is required.", code=REQUIRED)
    survivor_mrn, merged_mrn = mrn_of(pid), mrg.required(1, "The merged patient's identifier")
    ctx.summary |= {"mrn": survivor_mrn, "merged_mrn": merged_mrn}
    survivor = merging.resolve_mrn(ctx.clinic_id, survivor_mrn)
    merged = Patient.objects.filter(clinic_id=ctx.clinic_id, mrn=merged_mrn).first()
    if merged is None:
        if survivor is not None and merging.resolve_mrn(ctx.clinic_id, merged_mrn) == survivor:
            raise Ignored("Already merged: MRG-1 is an alias of the PID-3 patient.")
        raise Ignored("The clinic does not follow the merged patient (MRG-1).")
    if survivor is None:  # the survivor is new to the clinic: the record takes its MRN
        _save(ctx, PatientSerializer, {"mrn": survivor_mrn}, merged, pid, PATIENT_PLACES,
              "patient")  # fmt: skip
        PatientIdentifier.objects.create(
            patient=merged, system=merging.MERGED_MRN_SYSTEM, value=merged_mrn
        )
        return
    ctx.summary["moved"] = merging.merge(survivor, merged, ctx.now)
    ctx.touch("patient", survivor.pk)


# --- results ------------------------------------------------------------------------------


@dataclass
class Order:
    obr: Segment
    results: list[Segment] = field(default_factory=list)


def orders(message: Received) -> list[Order]:
    """OBR segments with the OBX segments that follow each (Z-segments, NTE: skipped)."""
    found: list[Order] = []
    for segment in message.segments:
        if segment.name == "OBR":
            found.append(Order(segment))
        elif segment.name == "OBX" and found:
            found[-1].results.append(segment)
    return found


EXAM_PLACES = {"patient": ("PID", 3), "performed_at": ("OBR", 7), "surgery": ("OBR", 7),
               "modality": ("OBR", 24), "accession_number": ("OBR", 3),
               "study_instance_uid": ("OBR", 3), "report": ("OBX", 5),
               "findings": ("OBX", 3)}  # fmt: skip
FINDING_PLACES = {"code": 3, "value": 5, "level": 4, "side": 20}


def result(ctx: Context, message: Received) -> None:
    """ORU^R01: each OBR an exam, upserted by its accession number (OBR-3)."""
    pid, patient = followed_patient(ctx, message)
    found = orders(message)
    if not found:
        raise ContentError("OBR", 3, "An OBR segment is required.", code=REQUIRED)
    ctx.summary["exams"] = []
    for order in found:
        _one_result(ctx, patient, pid, order)


def _one_result(ctx: Context, patient: Patient, pid: Segment, order: Order) -> None:
    obr = order.obr
    status = obr.value(25).strip().upper() or "F"
    if status not in ("F", "C"):
        ctx.summary["exams"].append({"status": status, "recorded": False})
        return  # preliminary, cancelled...: the final or corrected result will come
    data = {
        "patient": patient.pk,
        "accession_number": obr.required(3, "The accession number (filler order number)"),
        "performed_at": moment(obr, 7, "The observation time"),
        "modality": _modality(obr),
    }
    lines, findings, places = [], [], []
    for obx in order.results:
        if obx.value(3, comp=3).strip().upper() == FINDINGS_SYSTEM:
            findings.append(_finding(obx))
            places.append(obx)
        elif obx.value(2).strip().upper() in TEXT_TYPES:
            lines += [obx.value(5, rep) for rep in range(1, max(obx.repetitions(5), 1) + 1)]
    if lines or status == "C":
        data["report"] = "\n".join(lines)
    if findings or status == "C":  # a correction replaces the findings, even with none
        data["findings"] = findings
    ctx.summary["exams"].append(
        {
            "accession": data["accession_number"],
            "status": status,
            "modality": data["modality"],
            "findings": len(findings),
            "report_lines": len(lines),
        }
    )
    exam_id = _save_exam(ctx, patient, data, obr, pid, places)
    ctx.touch("patient", patient.pk)
    ctx.touch("exam", exam_id)


def _modality(obr: Segment) -> str:
    code = obr.required(24, "The modality (diagnostic service section)").upper()
    if code not in MODALITIES:
        raise obr.error(24, f"Unknown modality; one of {', '.join(sorted(MODALITIES))}.")
    return MODALITIES[code]


def _finding(obx: Segment) -> dict:
    code = obx.value(3).strip()
    definition = VOCABULARY.get(code)
    if definition is None:
        raise obx.error(3, "Unknown finding code (CLINICAL_RULES §3).", UNKNOWN_KEY)
    text = obx.value(5).strip()
    if not text:
        raise obx.error(5, f"{code} needs a value.", REQUIRED)
    try:
        value = definition.from_text(BOOLEANS.get(text.upper(), text))
    except ValueError as error:
        raise obx.error(5, f"{code} {error}.") from None
    if isinstance(value, Decimal):
        value = int(value) if value == value.to_integral_value() else float(value)
    side = obx.value(20).strip()
    return {
        "code": code,
        "value": value,
        "level": obx.value(4).strip(),
        "side": SIDES.get(side.upper(), side.lower()),
    }


# --- orders -------------------------------------------------------------------------------

CANCELLED = {"CA", "DC", "OC"}  # ORC-1: cancel, discontinue, cancelled


def order(ctx: Context, message: Received) -> None:
    """ORM^O01 / OMI^O23: the checkpoint the exam would satisfy shows it as booked."""
    _, patient = followed_patient(ctx, message)
    orc, obr = message.first("ORC"), message.first("OBR")
    if obr is None:
        raise ContentError("OBR", 3, "An OBR segment is required.", code=REQUIRED)
    accession = obr.value(3).strip() or (orc.value(3).strip() if orc else "")
    if not accession:
        raise obr.error(3, "The accession number (OBR-3 or ORC-3) is required.", REQUIRED)
    ctx.summary["accession"] = accession
    if orc is not None and orc.value(1).strip().upper() in CANCELLED:
        booked = Checkpoint.objects.filter(patient=patient, booked_order=accession)
        for pk in booked.values_list("pk", flat=True):
            ctx.touch("checkpoint", pk)
        booked.update(booked_at=None, booked_order="")
        ctx.summary["cancelled"] = True
        return
    planned = _planned(ctx, message, obr, patient)
    chosen = booking.book(patient, _modality(obr), planned, accession)
    if chosen is None:
        raise Ignored("No pending checkpoint of this patient takes this exam.")
    ctx.summary["checkpoint"] = chosen.code
    ctx.touch("checkpoint", chosen.pk)


def _planned(ctx: Context, message: Received, obr: Segment, patient: Patient) -> datetime:
    """TQ1-7 (v2.5), else OBR-27's start (TQ-4, v2.3), else the time of receipt."""
    tq1 = message.first("TQ1")
    if tq1 is not None and tq1.value(7).strip():
        text = moment(tq1, 7, "The planned start")
    elif obr.value(27, comp=4).strip():
        text = moment(obr, 27, "The planned start (quantity/timing)", comp=4)
    else:
        return ctx.now
    return in_clinic_zone(ClinicDateTimeField().to_internal_value(text), patient)


# --- the serializers ----------------------------------------------------------------------

_checkers = threading.local()  # the listener's threads each validate with their own


def _save_exam(ctx: Context, patient: Patient, data: dict, obr: Segment, pid: Segment,
               findings: list[Segment]) -> int:  # fmt: skip
    """An exam through the exams endpoint's bulk path with one record: the same
    serializer validates it (its fields built once per thread, the rows it checks against
    read in two queries), and it is written in a few statements with the same signal."""
    lock_patients([patient.pk])  # first (the lock order), so what is read below holds
    lookup = BulkLookup.of_patient(patient)
    read_exams(lookup, [ctx.clinic_id], [data])
    existing = existing_exam(lookup, patient.pk, data["accession_number"], None)
    checker = getattr(_checkers, "exam", None)
    if checker is None:
        checker = _checkers.exam = ExamSerializer(context={})
    checker.context.update(request=ctx.request, bulk=lookup)
    checker.instance, checker.partial = existing, existing is not None
    try:
        validated = checker.run_validation(data)
    except ValidationError as error:
        raise _located(error.detail, obr, EXAM_PLACES, pid, findings) from None
    serializer = ExamSerializer(existing, data=data, partial=existing is not None,
                                context=checker.context)  # fmt: skip
    [saved] = save_exams([(0, checked(serializer, validated))])
    return saved["id"]


def _save(ctx, serializer_class, data, existing, segment: Segment, places: dict, kind: str,
          pid: Segment | None = None, findings: list[Segment] = ()):  # fmt: skip
    serializer = serializer_class(
        existing, data=data, partial=existing is not None, context={"request": ctx.request}
    )
    if not serializer.is_valid():
        raise _located(serializer.errors, segment, places, pid, findings)
    row = serializer.save()
    ctx.touch(kind, row.pk)
    return row


def _located(errors: dict, segment: Segment, places: dict, pid, findings) -> ContentError:
    """The first serializer error as a ContentError at the place its value came from."""
    name, detail = next(iter(errors.items()))
    if name == "findings" and isinstance(detail, list | dict) and findings:
        items = detail.items() if isinstance(detail, dict) else enumerate(detail)
        for index, item in items:
            if item and isinstance(item, dict):
                key, messages = next(iter(item.items()))
                obx = findings[int(index)]
                return obx.error(FINDING_PLACES.get(key, 3), f"{key}: {_text(messages)}")
    place = places.get(name, (segment.name, 0))
    if isinstance(place, int):
        return segment.error(place, f"{name}: {_text(detail)}")
    name_of_segment, number = place
    if name_of_segment == "PID" and pid is not None:
        return pid.error(number, f"{name}: {_text(detail)}")
    if name_of_segment == segment.name:
        return segment.error(number, f"{name}: {_text(detail)}")
    return ContentError(name_of_segment, number, f"{name}: {_text(detail)}")


def _text(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_text(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{k}: {_text(v)}" for k, v in detail.items())
    return str(detail)


HANDLERS = {
    "ORU^R01": result,
    "ADT^A08": patient_update,
    "ADT^A31": patient_update,
    "ADT^A40": patients_merge,
    "ORM^O01": order,
    "OMI^O23": order,
}
