"""An exam ordered (HL7 ORM^O01 / OMI^O23): the checkpoint it would satisfy shows it as
booked. The exam itself is recorded when its result arrives, and matched then."""

from datetime import datetime

from django.db.models import Q

from followup.models import Checkpoint, CheckpointKind
from patients.locks import lock_patients
from patients.models import Patient


def book(patient: Patient, modality: str, planned: datetime, order: str) -> Checkpoint | None:
    """Mark the pending checkpoint this order would satisfy (the same order again: the one
    it booked). Its window holds the planned time and its modalities the order's, else
    the first pending one that takes the modality. None when no checkpoint fits."""
    lock_patients([patient.pk])
    pending = Checkpoint.objects.filter(
        patient=patient,
        kind__in=[CheckpointKind.EXAM, CheckpointKind.WORKUP],
        satisfied_by__isnull=True,
        waived_at__isnull=True,
    ).filter(Q(modalities__contains=[modality]) | Q(modalities=[]))
    already = pending.filter(booked_order=order).first()
    chosen = already or (
        pending.filter(opens_at__lte=planned, overdue_at__gt=planned).order_by("due_at").first()
        or pending.filter(overdue_at__gt=planned).order_by("due_at").first()
    )
    if chosen is None:
        return None
    if (chosen.booked_at, chosen.booked_order) != (planned, order):
        Checkpoint.objects.filter(pk=chosen.pk).update(booked_at=planned, booked_order=order)
        chosen.booked_at, chosen.booked_order = planned, order
    return chosen
