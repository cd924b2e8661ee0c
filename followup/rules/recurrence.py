"""The pattern of a pain-free interval followed by recurrence (CLINICAL_RULES §6), on
scores alone: followup/pipeline/recurrence.py keeps the detected events in step with it.

Back pain (NRS) that fell to the pain-free level or below and later rose by the
recurrence rise or more, at least `recurrence_min_days` after surgery, is a
recurrence. A new recurrence needs a new pain-free interval first, so one
recurrence is found once, not at every later assessment. The detected event lives
only while the scores show the pattern.
"""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class RecurrenceLimits:
    """The pattern's numbers by default (each clinic's are its Thresholds, whose field
    defaults are read from here)."""

    pain_free_nrs: int = 3
    recurrence_rise_nrs: int = 2  # MCID, not from the seeds
    recurrence_min_days: int = 90


@dataclass(frozen=True)
class Score:
    id: int
    day: int  # days since surgery
    nrs_back: int | None


@dataclass(frozen=True)
class Recurrence:
    relief: int  # the assessment that showed the pain-free interval (its lowest point)
    recurrence: int  # the assessment that showed the rise


def recurrences(
    scores: Iterable[Score], *, pain_free: int, rise: int, min_day: int
) -> list[Recurrence]:
    found: list[Recurrence] = []
    nadir: Score | None = None  # lowest pain since the interval began
    for score in sorted(scores, key=lambda s: (s.day, s.id)):
        if score.nrs_back is None or score.day < 0:
            continue
        if score.nrs_back <= pain_free:
            if nadir is None or score.nrs_back < nadir.nrs_back:
                nadir = score
        elif nadir is not None and score.nrs_back >= nadir.nrs_back + rise:
            if score.day >= min_day:
                found.append(Recurrence(relief=nadir.id, recurrence=score.id))
            nadir = None  # a later recurrence needs a new pain-free interval
    return found
