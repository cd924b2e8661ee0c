"""From the outcomes report's aggregates to its figures: each value with its interval
(stats.py), and the groups smaller than the clinic's minimum suppressed (their size kept)."""

from . import stats
from .selection import COMPLICATIONS


def figure(value: float | None, interval: stats.Interval | None) -> dict:
    return {
        "value": value,
        "low": interval.low if interval else None,
        "high": interval.high if interval else None,
    }


def proportion(successes: int, n: int, scale: float = 1.0) -> dict:
    if not n:
        return figure(None, None)
    interval = stats.wilson(successes, n)
    return figure(successes / n * scale, interval.scaled(scale) if interval else None)


def suppress(row: dict, size: str, minimum: int, hidden: tuple[str, ...]) -> dict:
    """A row whose denominator is under the minimum keeps its size and loses the rest."""
    row["suppressed"] = row[size] < minimum
    if row["suppressed"]:
        for name in hidden:
            row[name] = figure(None, None) if isinstance(row[name], dict) else None
    return row


def capture(row: dict, minimum: int) -> dict:
    judged = row["on_time"] + row["late"] + row["missed"]
    row["judged"] = judged
    row["capture_rate"] = proportion(row["on_time"] + row["late"], judged)
    row["on_time_rate"] = proportion(row["on_time"], judged)
    return suppress(
        row, "judged", minimum,
        ("on_time", "late", "missed", "not_applicable", "pending", "capture_rate",
         "on_time_rate"),
    )  # fmt: skip


def prom(row: dict, minimum: int) -> dict:
    n = row["n"]
    ranks = stats.median_ranks(n)
    out = {
        "scope": row["scope"], "group": row["group"], "time_point": row["time_point"],
        "measure": row["measure"], "n": n, "mcid": row["mcid"],
        "baseline_mean": row["baseline_mean"], "follow_up_mean": row["follow_up_mean"],
        "mean_improvement": figure(row["mean"], stats.mean_interval(n, row["mean"], row["sd"])),
        "sd": row["sd"],
        "median_improvement": figure(
            row["median"],
            stats.Interval(row["median_low"], row["median_high"]) if ranks else None,
        ),
        "responders": row["responders"],
        "responder_rate": proportion(row["responders"], n),
    }  # fmt: skip
    return suppress(
        out, "n", minimum,
        ("baseline_mean", "follow_up_mean", "mean_improvement", "sd", "median_improvement",
         "responders", "responder_rate"),
    )  # fmt: skip


def fusion(row: dict, minimum: int) -> dict:
    row["complete_bridging_rate"] = proportion(row["complete_bridging"], row["assessed"])
    row["pseudarthrosis_rate"] = proportion(row["pseudarthrosis_suspected"], row["followed_a_year"])
    row["suppressed"] = row["fusions"] < minimum
    if row["assessed"] < minimum:
        row["complete_bridging"] = None
        row["complete_bridging_rate"] = figure(None, None)
    if row["followed_a_year"] < minimum:
        row["pseudarthrosis_suspected"] = None
        row["pseudarthrosis_rate"] = figure(None, None)
    return row


def complications(row: dict, minimum: int) -> dict:
    n, small = row["surgeries"], row["surgeries"] < minimum
    return {
        "scope": row["scope"],
        "group": row["group"],
        "surgeries": n,
        "suppressed": small,
        "complications": [
            {
                "code": name,
                "label": label,
                "surgeries": None if small else row[name],
                "per_100": figure(None, None) if small else proportion(row[name], n, 100),
            }
            for name, (label, _) in COMPLICATIONS.items()
        ],
    }
