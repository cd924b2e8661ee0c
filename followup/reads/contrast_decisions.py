"""What the contrast decision of a recurrent radicular pain work-up needs, loaded for a
list of checkpoints, and for a gadolinium MR being ordered (followup/rules/contrast.py
decides)."""

from collections.abc import Sequence
from datetime import datetime

from followup.models import Checkpoint, CheckpointKind
from followup.rules.contrast import CONTRAST_QUESTION, decide
from imaging.models import Finding, Modality


def contrast_decisions(checkpoints: Sequence[Checkpoint], now: datetime) -> dict[int, dict]:
    """Work-up id -> its contrast decision, for every such work-up in the list (2 queries)."""
    workups = [
        c for c in checkpoints if c.kind == CheckpointKind.WORKUP and c.code == CONTRAST_QUESTION
    ]
    if not workups:
        return {}
    surgeries = {c.surgery_id for c in workups}
    cutoffs = dict(
        Checkpoint.objects.filter(surgery__in=surgeries, code="gadolinium_cutoff").values_list(
            "surgery_id", "due_at"
        )
    )
    herniations = list(
        Finding.objects.filter(
            exam__surgery__in=surgeries, exam__modality=Modality.MR, code="disc_herniation"
        )
        .order_by("exam__performed_at")
        .values_list("exam__surgery_id", "exam__performed_at", "value")
    )
    decisions = {}
    for workup in workups:
        cutoff = cutoffs.get(workup.surgery_id)
        seen = [v for s, at, v in herniations if s == workup.surgery_id and at >= workup.opens_at]
        last = seen[-1] if seen else None
        similar = None if last is None else last == "similar_to_preop"
        decisions[workup.pk] = decide(cutoff, similar, now, herniated=last != "none")
    return decisions


def ordered_contrast_decision(patient_id: int, now: datetime) -> dict | None:
    """The contrast decision for a gadolinium MR ordered `now` (1 query): against the
    gadolinium cutoff of the patient's latest surgery that has one; None if none has (no
    discectomy, decompression or fusion: the rule does not apply)."""
    cutoff = (
        Checkpoint.objects.filter(patient_id=patient_id, code="gadolinium_cutoff")
        .order_by("-due_at")
        .values_list("due_at", flat=True)
        .first()
    )
    return None if cutoff is None else decide(cutoff, None, now)
