"""The outcomes report's figures against an independent computation over the raw rows
(pandas, numpy, scipy), intervals included, on a cohort with planted effects."""

import math

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from scipy import stats as scipy_stats

from followup.ops.cohort import Effects, Generator
from followup.reports import outcomes, selection, stats
from patients.models import PROCEDURE_FAMILY

from .conftest import EFFECTS, NOW, SEED, SURGEONS, TODAY, frames

pytestmark = pytest.mark.django_db
BASELINE_DAYS = 90
POINTS = {"3m": (60, 90, 135), "12m": (300, 365, 455)}
MCID = {"nrs_back": 2.0, "nrs_leg": 2.0, "odi": 15.0}


def report(clinic, **filters):
    return outcomes.run(clinic, selection.Filters(**filters), NOW)


def row(rows, **match):
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def wilson(k: int, n: int) -> tuple[float, float]:
    ci = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return ci.low, ci.high


def close(a, b, tol=1e-9):
    return a is not None and b is not None and math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# --- PROMs -------------------------------------------------------------------------------


def prom_pairs(f: dict) -> pd.DataFrame:
    """Baseline (latest from day -90 to day 0) and follow-up (closest to the target in the
    window, before the next surgery) per surgery, time point and measure."""
    s, a = f["surgeries"], f["assessments"]
    joined = s.merge(a, on="patient_id", suffixes=("_s", "_a"))
    joined["rel"] = (pd.to_datetime(joined["day_a"]) - pd.to_datetime(joined["day_s"])).dt.days
    out = []
    for measure in MCID:
        have = joined[joined[measure].notna()]
        base = have[(have["rel"] >= -BASELINE_DAYS) & (have["rel"] <= 0)]
        base = base.sort_values(["rel", "assessed_at"]).groupby("id_s").tail(1)
        base = base.set_index("id_s")[measure]
        before_next = have["next_at"].isna() | (have["assessed_at"] < have["next_at"])
        for code, (opens, target, due) in POINTS.items():
            window = have[before_next & (have["rel"] >= opens) & (have["rel"] <= due)].copy()
            window["distance"] = (window["rel"] - target).abs()
            window = window.sort_values(["distance", "rel", "assessed_at"]).groupby("id_s").head(1)
            later = window.set_index("id_s")[measure]
            both = pd.concat([base.rename("baseline"), later.rename("later")], axis=1).dropna()
            both["improvement"] = both["baseline"] - both["later"]
            both["measure"], both["time_point"] = measure, code
            out.append(both.reset_index(names="surgery_id"))
    return pd.concat(out, ignore_index=True)


def expected_prom(values: np.ndarray, mcid: float) -> dict:
    n = len(values)
    mean, sd = values.mean(), values.std(ddof=1)
    half = scipy_stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    ordered = np.sort(values)
    z = scipy_stats.norm.ppf(0.975)
    low_rank = round(n / 2 - z * math.sqrt(n) / 2)
    high_rank = round(1 + n / 2 + z * math.sqrt(n) / 2)
    responders = int((values >= mcid).sum())
    return {
        "n": n, "mean": mean, "mean_low": mean - half, "mean_high": mean + half,
        "median": float(np.median(values)), "median_low": ordered[low_rank - 1],
        "median_high": ordered[high_rank - 1], "responders": responders,
        "rate_ci": wilson(responders, n),
    }  # fmt: skip


def test_prom_change_matches_the_raw_rows_and_finds_the_planted_improvement(planted):
    figures = report(planted, group_by="surgeon")
    pairs = prom_pairs(frames(planted))
    surgeons = frames(planted)["surgeries"].set_index("id")["surgeon"]
    pairs["surgeon"] = pairs["surgery_id"].map(surgeons)
    checked = 0
    for (code, measure), mine in pairs.groupby(["time_point", "measure"]):
        for scope, group, subset in [("all", "", mine)] + [
            ("group", name, part) for name, part in mine.groupby("surgeon")
        ]:
            got = row(figures["proms"], scope=scope, group=group, time_point=code, measure=measure)
            want = expected_prom(subset["improvement"].to_numpy(float), MCID[measure])
            assert got["n"] == want["n"]
            if want["n"] < 5:
                assert got["suppressed"] and got["mean_improvement"]["value"] is None
                continue
            assert close(got["mean_improvement"]["value"], want["mean"])
            assert close(got["mean_improvement"]["low"], want["mean_low"], 1e-7)
            assert close(got["mean_improvement"]["high"], want["mean_high"], 1e-7)
            assert close(got["median_improvement"]["value"], want["median"])
            assert close(got["median_improvement"]["low"], want["median_low"])
            assert close(got["median_improvement"]["high"], want["median_high"])
            assert got["responders"] == want["responders"]
            assert close(got["responder_rate"]["low"], want["rate_ci"][0])
            assert close(got["responder_rate"]["high"], want["rate_ci"][1])
            checked += 1
    assert checked >= 20
    # The planted 12-month improvement lies inside the report's interval for the clinic.
    for measure, size in EFFECTS.prom_improvement.items():
        mean = row(figures["proms"], scope="all", time_point="12m", measure=measure)
        assert mean["n"] >= 50
        assert mean["mean_improvement"]["low"] <= size <= mean["mean_improvement"]["high"]


# --- fusion and complications -----------------------------------------------------------


def test_fusion_bridging_matches_the_raw_rows_and_finds_the_weak_surgeon(planted):
    f = frames(planted)
    figures = report(planted, group_by="surgeon")
    fusions = f["surgeries"][f["surgeries"]["procedure"].map(PROCEDURE_FAMILY) == "fusion"]
    checkpoints = f["checkpoints"]
    assessment = checkpoints[
        (checkpoints["code"] == "fusion_assessment") & checkpoints["waived_at"].isna()
    ].merge(f["bridging"], left_on="satisfied_by_id", right_on="exam_id")
    complete = assessment.groupby("surgery_id")["value"].agg(
        lambda v: all(x == "complete" for x in v)
    )
    year_ago = (pd.Timestamp(NOW) - pd.Timedelta(days=365)).tz_convert(planted.timezone).date()
    alerts = f["alerts"]
    live = alerts[(alerts["code"] == "pseudarthrosis_suspected") & ~alerts["auto_resolved"]]
    suspected = set(live["surgery_id"])
    rates = {}
    for scope, group, subset in [("all", "", fusions)] + [
        ("group", name, part) for name, part in fusions.groupby("surgeon")
    ]:
        got = row(figures["fusion"], scope=scope, group=group)
        judged = complete[complete.index.isin(subset["id"])]
        followed = subset[subset["day"] <= year_ago]
        assert got["fusions"] == len(subset)
        assert got["assessed"] == len(judged)
        assert got["complete_bridging"] == int(judged.sum())
        low, high = wilson(int(judged.sum()), len(judged))
        assert close(got["complete_bridging_rate"]["low"], low)
        assert close(got["complete_bridging_rate"]["high"], high)
        assert got["followed_a_year"] == len(followed)
        assert got["pseudarthrosis_suspected"] == int(followed["id"].isin(suspected).sum())
        rates[group] = got["complete_bridging_rate"]
    # Planted: Dr Weak's fusions bridge less often, beyond the intervals' overlap.
    others = [rates[name] for name in SURGEONS[1:]]
    assert all(rates["Dr Weak"]["high"] < other["value"] for other in others)
    assert rates["Dr Weak"]["value"] < 0.6 < rates[""]["value"]
    # Per procedure and levels, every fusion counted once.
    per = [r for r in figures["fusion"] if r["scope"] == "procedure_levels"]
    assert sum(r["fusions"] for r in per) == len(fusions)


def test_complications_per_100_surgeries_and_the_loose_procedure(planted):
    f = frames(planted)
    figures = report(planted, group_by="procedure")
    alerts = f["alerts"][~f["alerts"]["auto_resolved"]]
    for scope, group, subset in [("all", "", f["surgeries"])] + [
        ("group", name, part) for name, part in f["surgeries"].groupby("procedure")
    ]:
        got = row(figures["complications"], scope=scope, group=group)
        assert got["surgeries"] == len(subset)
        for item in got["complications"]:
            codes = selection.COMPLICATIONS[item["code"]][1]
            hit = alerts[alerts["code"].isin(codes) & alerts["surgery_id"].isin(subset["id"])]
            k = hit["surgery_id"].nunique()
            if got["suppressed"]:
                assert item["surgeries"] is None and item["per_100"]["value"] is None
                continue
            assert item["surgeries"] == k
            assert close(item["per_100"]["value"], 100 * k / len(subset))
            low, high = wilson(k, len(subset))
            assert close(item["per_100"]["low"], 100 * low)
            assert close(item["per_100"]["high"], 100 * high)
    loose = {r["group"]: r["complications"][0] for r in figures["complications"]}
    assert loose["tlif"]["code"] == "loosening"
    for other in ("alif", "plif", "posterolateral_fusion"):
        if loose.get(other) and loose[other]["per_100"]["value"] is not None:
            assert loose["tlif"]["per_100"]["low"] > loose[other]["per_100"]["value"]


# --- capture and process ---------------------------------------------------------------


def test_capture_per_checkpoint_matches_the_raw_rows(planted):
    f = frames(planted)
    figures = report(planted)
    k = f["checkpoints"][f["checkpoints"]["kind"] != "milestone"]
    done = k["satisfied_by_id"].notna() | k["answered_by_id"].notna()  # a PROM: answered
    unmet = k["waived_at"].isna() & ~done
    past = k["overdue_at"] <= NOW
    for code, part in k.groupby("code"):
        got = row(figures["capture"], scope="all", code=code)
        p_unmet, p_past = unmet[part.index], past[part.index]
        met = part["waived_at"].isna() & done[part.index]
        on_time = int((met & ~part["late"]).sum())
        late = int((met & part["late"]).sum())
        owed = part["required"] | (part["kind"] == "prom")  # a PROM closed unanswered: missed
        missed = int((p_unmet & owed & p_past).sum())
        if got["suppressed"]:  # fewer judged than the minimum group: only the size shown
            assert got["judged"] == on_time + late + missed < figures["standards"]["min_group_size"]
            continue
        assert (got["on_time"], got["late"], got["missed"]) == (on_time, late, missed)
        assert got["pending"] == int((p_unmet & ~p_past).sum())
        low, high = wilson(on_time + late, on_time + late + missed)
        assert close(got["capture_rate"]["low"], low)
        assert close(got["capture_rate"]["high"], high)


def test_the_capture_section_alone_is_the_reports(planted):
    """`outcomes.capture` (the FHIR MeasureReport's figures) is `run`'s capture section,
    in two queries."""
    filters = selection.Filters(performed_from=TODAY.replace(year=TODAY.year - 1))
    with CaptureQueriesContext(connection) as queries:
        alone = outcomes.capture(planted, filters, NOW)
    assert len(queries) == 2
    whole = outcomes.run(planted, filters, NOW)
    assert alone["capture"] == whole["capture"] and alone["capture"]
    assert alone["standards"]["min_group_size"] == whole["standards"]["min_group_size"]


def test_acknowledgement_and_overdue_days_match_the_raw_rows(planted):
    f = frames(planted)
    figures = report(planted)
    alerts = f["alerts"][f["alerts"]["surgery_id"].notna()]
    hours = (alerts["acknowledged_at"] - alerts["created_at"]).dt.total_seconds() / 3600
    got = row(figures["acknowledgement"], scope="all", severity="")
    assert got["alerts"] == len(alerts) and got["acknowledged"] == int(hours.notna().sum())
    assert close(got["median_hours"], float(hours.dropna().median()), 1e-6)
    assert close(got["p90_hours"], float(np.percentile(hours.dropna(), 90)), 1e-6)

    k = f["checkpoints"]
    late = k[(k["kind"] != "milestone") & k["required"] & k["waived_at"].isna()
             & (k["overdue_at"] <= NOW)]  # fmt: skip
    done = late["satisfied_by__performed_at"]
    late = late[done.isna() | (done > late["overdue_at"])]
    days = (late["satisfied_by__performed_at"].fillna(NOW) - late["overdue_at"]).dt.total_seconds()
    days = days / 86400
    got = row(figures["overdue"], scope="all", code="")
    assert got["overdue"] == len(late)
    assert got["still_missing"] == int(late["satisfied_by_id"].isna().sum())
    assert close(got["median_days"], float(days.median()), 1e-6)


# --- suppression, filters, queries -----------------------------------------------------


def test_small_groups_show_their_size_and_nothing_else(planted):
    figures = report(planted, group_by="surgeon", min_group=10_000)
    for section in ("capture", "proms", "acknowledgement", "overdue"):
        assert figures[section] and all(r["suppressed"] for r in figures[section])
    capture = figures["capture"][0]
    assert capture["judged"] > 0 and capture["on_time"] is None and capture["missed"] is None
    prom = figures["proms"][0]
    assert prom["n"] > 0 and prom["responders"] is None
    assert prom["mean_improvement"] == {"value": None, "low": None, "high": None}
    assert all(r["complete_bridging"] is None for r in figures["fusion"])
    assert all(c["surgeries"] is None for r in figures["complications"]
               for c in r["complications"])  # fmt: skip
    # A caller may raise the clinic's minimum, never lower it.
    assert report(planted, min_group=1)["standards"]["min_group_size"] == 5


def test_filters_narrow_the_selection(planted):
    f = frames(planted)["surgeries"]
    by_surgeon = report(planted, surgeon="Dr Weak")
    assert row(by_surgeon["groups"], scope="all")["surgeries"] == int(
        (f["surgeon"] == "Dr Weak").sum()
    )
    two = report(planted, procedure="tlif", levels=2)
    want = int(((f["procedure"] == "tlif") & (f["n_levels"] == 2)).sum())
    assert row(two["groups"], scope="all")["surgeries"] == want
    start, end = TODAY.replace(year=TODAY.year - 2), TODAY.replace(year=TODAY.year - 1)
    period = report(planted, performed_from=start, performed_to=end)
    want = int(((f["day"] >= start) & (f["day"] <= end)).sum())
    assert row(period["groups"], scope="all")["surgeries"] == want
    only = report(planted, time_point="12m")
    assert {r["time_point"] for r in only["proms"]} == {"12m"}
    films = report(planted, time_point="bridging_film")
    assert {r["code"] for r in films["capture"]} == {"bridging_film"}


def test_queries_are_constant_in_the_number_of_patients(planted):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            report(planted, group_by="surgeon")
        return len(queries)

    before = count()
    Generator(seed=SEED, today=TODAY, effects=Effects(), surgeons=SURGEONS).run(
        400, patients_per_clinic=400, start=300
    )
    # The standards, the memory setting, the selection read into a temporary table
    # (analysed, dropped), the eight sections, the savepoint around them.
    assert count() == before <= 14


def test_the_intervals_themselves():
    assert stats.wilson(0, 10).low == 0.0 and stats.wilson(10, 10).high == 1.0
    assert math.isclose(stats.t_quantile(0.975, 4), scipy_stats.t.ppf(0.975, 4), rel_tol=1e-9)
    assert math.isclose(stats.t_quantile(0.975, 120), scipy_stats.t.ppf(0.975, 120), rel_tol=1e-9)
    assert stats.median_ranks(5) is None and stats.median_ranks(100) == (40, 61)
