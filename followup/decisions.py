"""Decision support from the source, shown beside a work-up.

For recurrent radicular pain after a discectomy [Guide, Fig. 7]: contrast is
indicated only before the gadolinium cutoff (mature scar no longer enhances) and
only if the herniation looks like the pre-operative one; otherwise an MR with 3D T2
alone answers the question.
"""

from collections.abc import Sequence
from datetime import datetime

from imaging.models import Finding, Modality

from .models import Checkpoint, CheckpointKind

CONTRAST_QUESTION = "recurrent_radicular_pain"


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
        decisions[workup.pk] = _decide(cutoff, similar, now, herniated=last != "none")
    return decisions


def _decide(
    cutoff: datetime | None, similar: bool | None, now: datetime, herniated: bool = True
) -> dict:
    before_cutoff = cutoff is not None and now < cutoff
    if not before_cutoff:
        why = "after the gadolinium cutoff: mature scar does not enhance; MR with 3D T2 alone."
    elif similar is None:
        why = ("before the gadolinium cutoff: give contrast only if the MR shows a herniation "
               "similar to the pre-operative one.")  # fmt: skip
    elif not herniated:
        why = "the MR shows no herniation: no contrast."
    elif similar:
        why = ("the herniation looks like the pre-operative one, before the gadolinium cutoff: "
               "post-contrast images separate scar from recurrence.")  # fmt: skip
    else:
        why = "the herniation differs from the pre-operative one: a recurrence; no contrast."
    return {
        "gadolinium_cutoff": cutoff,
        "before_gadolinium_cutoff": before_cutoff,
        "herniation_similar_to_preop": similar,
        "contrast_indicated": bool(before_cutoff and similar),
        "explanation": why,
    }
