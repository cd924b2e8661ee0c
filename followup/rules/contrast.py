"""The contrast decision (decision support from the source, shown beside a work-up).

For recurrent radicular pain after a discectomy [Guide, Fig. 7]: contrast is
indicated only before the gadolinium cutoff (mature scar no longer enhances) and
only if the herniation looks like the pre-operative one; otherwise an MR with 3D T2
alone answers the question.
"""

from datetime import datetime

# The work-up whose question the decision answers.
CONTRAST_QUESTION = "recurrent_radicular_pain"


def decide(
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
