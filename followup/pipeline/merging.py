"""Merging two records of one person (HL7 ADT^A40; any entry path may call it).

Everything the merged record owns moves to the survivor (surgeries, exams, clinical
events, assessments, identifiers, checkpoints, alerts), its MRN stays as an identifier
of the survivor (`MERGED_MRN_SYSTEM`) that later messages still resolve, and the merged
row is deleted. The moves are UPDATEs: pghistory's triggers audit them with the caller's
context. Merging again changes nothing: the MRN already is the survivor's alias.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from followup.models import Alert, Checkpoint
from imaging.models import ImagingExam
from patients.locks import lock_patients
from patients.models import Assessment, ClinicalEvent, Patient, PatientIdentifier, Surgery

from . import refresh
from .alerts_lifecycle import ACTIVE, auto_resolve

# The identifier system of an MRN merged into another patient (HL7 v2 table 0203 "MR").
MERGED_MRN_SYSTEM = "urn:spine-followup:merged-mrn"


def resolve_mrn(clinic_id: int, mrn: str) -> Patient | None:
    """The clinic's patient with this MRN, or the survivor it was merged into."""
    patients = Patient.objects.select_related("clinic")
    found = patients.filter(clinic_id=clinic_id, mrn=mrn).first()
    if found is None:
        found = patients.filter(
            clinic_id=clinic_id, external_ids__system=MERGED_MRN_SYSTEM, external_ids__value=mrn
        ).first()
    return found


@transaction.atomic
def merge(survivor: Patient, merged: Patient, now: datetime) -> dict[str, int]:
    """Move everything of `merged` onto `survivor` (same clinic), keep its MRN as an alias
    and delete it. Returns how many rows of each kind moved."""
    if survivor.clinic_id != merged.clinic_id:
        raise ValueError("Only two patients of the same clinic can be merged.")
    if survivor.pk == merged.pk:
        return {}
    lock_patients([survivor.pk, merged.pk])
    moved = {"surgeries": Surgery.objects.filter(patient=merged).update(patient=survivor)}
    for name, model in (("exams", ImagingExam), ("clinical_events", ClinicalEvent),
                        ("assessments", Assessment), ("checkpoints", Checkpoint)):  # fmt: skip
        moved[name] = model.objects.filter(patient=merged).update(patient=survivor)
    moved["alerts"] = _move_alerts(survivor, merged, now)
    taken = PatientIdentifier.objects.filter(patient=survivor).values_list("system", "value")
    identifiers = PatientIdentifier.objects.filter(patient=merged)
    identifiers.filter(
        Q(*[Q(system=s, value=v) for s, v in taken], _connector=Q.OR) if taken else Q(pk=None)
    ).delete()
    moved["identifiers"] = identifiers.update(patient=survivor)
    PatientIdentifier.objects.get_or_create(
        clinic_id=survivor.clinic_id,
        system=MERGED_MRN_SYSTEM,
        value=merged.mrn,
        defaults={"patient": survivor},
    )
    merged.delete()
    refresh.mark_stale(Surgery.objects.filter(patient=survivor).values_list("pk", flat=True))
    return moved


def _move_alerts(survivor: Patient, merged: Patient, now: datetime) -> int:
    """An open alert about the patient as a whole (the dose) that the survivor has too is
    the same cause twice: the merged one's resolves; the rest move."""
    theirs = Alert.objects.filter(ACTIVE, patient=survivor, surgery__isnull=True)
    twins = Alert.objects.filter(
        ACTIVE,
        patient=merged,
        surgery__isnull=True,
        code__in=theirs.values("code"),
        subject__in=theirs.values("subject"),
    )
    auto_resolve(twins, now, f"Merged into patient {survivor.mrn}, which has the same alert.")
    return Alert.objects.filter(patient=merged).update(patient=survivor)
