"""Exams written in bulk: what the bulk endpoint and the hospital feeds share. The
exams a batch of records may update are read at once (`read_exams`), each record is
validated by the endpoint's own serializer against them, and the valid ones are saved
in a few statements (`save_exams`)."""

from django.db.models import Q
from django.utils import timezone

from patients.base.api.bulk import BulkLookup

from ..models import Finding, ImagingExam
from ..signals import exams_written_in_bulk

# What a bulk update rewrites on an existing exam (clinic and patient never move).
UPDATABLE = ["surgery", "modality", "contrast", "performed_at", "views", "accession_number",
             "study_instance_uid", "effective_dose_msv", "report", "updated_at"]  # fmt: skip


def read_exams(lookup: BulkLookup, clinic_ids, records: list) -> None:
    """The exams of these clinics the records name by accession number or Study Instance
    UID, into `lookup.extra`: `exams` by (kind, patient, key), `taken` by (kind, clinic,
    key) for the serializer's uniqueness checks."""
    dicts = [r for r in records if isinstance(r, dict)]
    accessions = {a for r in dicts if isinstance(a := r.get("accession_number"), str)}
    uids = {u for r in dicts if isinstance(u := r.get("study_instance_uid"), str)} - {""}
    exams = ImagingExam.objects.filter(
        Q(accession_number__in=accessions) | Q(study_instance_uid__in=uids),
        clinic_id__in=clinic_ids,
    ).select_related("patient")
    lookup.extra["exams"] = {}
    lookup.extra["taken"] = {}
    for exam in exams:
        lookup.extra["exams"][("acc", exam.patient_id, exam.accession_number)] = exam
        lookup.extra["taken"][("acc", exam.clinic_id, exam.accession_number)] = exam.pk
        if exam.study_instance_uid:
            lookup.extra["exams"][("uid", exam.patient_id, exam.study_instance_uid)] = exam
            lookup.extra["taken"][("uid", exam.clinic_id, exam.study_instance_uid)] = exam.pk


def existing_exam(lookup: BulkLookup, patient, accession, uid) -> ImagingExam | None:
    """The patient's exam this record updates (same accession number, or UID), if any."""
    exams = lookup.extra["exams"]
    return exams.get(("acc", int(patient), accession)) or exams.get(("uid", int(patient), uid))


def save_exams(valid: list) -> list[dict]:
    """Valid exams (index, checked serializer) and their findings in a few statements;
    then one signal, on which the follow-up domain sets one stale mark and batched
    refresh tasks do the matching and the rules. The caller holds the patients' locks."""
    now = timezone.now()
    created, updated, findings, replaced, surgeries = [], [], [], [], set()
    refused, uids = [], {}
    for index, serializer in valid:
        data = dict(serializer.validated_data)
        items = data.pop("findings", None)
        exam = serializer.instance
        # Two records with one Study Instance UID would fail the whole bulk_create.
        clinic = (data.get("patient") or exam.patient).clinic_id
        uid = data.get("study_instance_uid", getattr(exam, "study_instance_uid", ""))
        if uid and (first := uids.setdefault((clinic, uid), index)) != index:
            error = f"Same Study Instance UID as index {first} in this request."
            refused.append({"index": index, "error": error})
            continue
        if exam is None:
            exam = ImagingExam(**data)
            exam.clinic_id = exam.patient.clinic_id
            created.append((index, exam))
        else:
            surgeries.add(exam.surgery_id)  # the surgery it leaves is re-matched too
            for name, value in data.items():
                setattr(exam, name, value)
            exam.updated_at = now
            updated.append((index, exam))
            if items is not None:
                replaced.append(exam.pk)
        surgeries.add(exam.surgery_id)
        findings += [(exam, item) for item in (items or [])]
    ImagingExam.objects.bulk_create([exam for _, exam in created])
    if updated:
        ImagingExam.objects.bulk_update([exam for _, exam in updated], UPDATABLE)
    if replaced:
        Finding.objects.filter(exam_id__in=replaced).delete()
    Finding.objects.bulk_create(Finding(exam=exam, **item) for exam, item in findings)
    exams_written_in_bulk.send(sender=ImagingExam, surgery_ids=surgeries)
    return (
        [{"index": index, "id": exam.pk, "created": True} for index, exam in created]
        + [{"index": index, "id": exam.pk, "created": False} for index, exam in updated]
        + refused
    )
