"""The capture rates as FHIR: `Measure/followup-capture` and its `$evaluate-measure`.

The MeasureReport is valid R4 (fhir.resources, R4B models); its counts and scores are
computed here again from the Checkpoint rows, and are the JSON report's; small groups
carry no count; the parameters are checked; a clinic sees its own figures only; the
read is audited."""

from datetime import timedelta

import pytest
from django.utils import timezone

from followup.fhir import codes, measures
from followup.models import Checkpoint
from followup.reports import outcomes, selection
from patients.models import RecordRead, Role
from tests import factories

from .conftest import checkpoint, fhir_get, valid

MEASURE = f"/fhir/r4/Measure/{measures.MEASURE_ID}"
EVALUATE = f"{MEASURE}/$evaluate-measure"
POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"


def surgery_with(clinic, days_ago: int):
    patient = factories.patient(clinic)
    return factories.surgery(patient, timezone.now() - timedelta(days=days_ago))


def planted(clinic) -> None:
    """Checkpoints of every state for `baseline_film` (judged 6: shown) and two missed
    `fusion_assessment`s (judged 2, under the minimum of 5: suppressed); one surgery
    before the period."""
    old = [surgery_with(clinic, 300) for _ in range(8)]
    recent = [surgery_with(clinic, 20) for _ in range(2)]
    for n, surgery in enumerate(old[:4]):  # three on time, one late
        exam = factories.exam(surgery.patient, surgery)
        checkpoint(surgery, "baseline_film", 0, satisfied_by=exam, late=n == 3)
    for surgery in old[4:6]:  # missed
        checkpoint(surgery, "baseline_film", 0)
    checkpoint(old[6], "baseline_film", 0, waived_at=timezone.now())  # not applicable
    checkpoint(old[7], "baseline_film", 0, required=False)  # optional, not done: the same
    for surgery in recent:  # not yet overdue: pending
        checkpoint(surgery, "baseline_film", 0)
    for surgery in old[:2]:
        checkpoint(surgery, "fusion_assessment", 0)
    # A PROM time point is optional (no alert) but owed: closed unanswered, it is missed.
    for surgery in old[:5]:
        checkpoint(surgery, "prom_3m", 60, kind="prom", required=False)
    before = surgery_with(clinic, 800)  # outside the period: counted nowhere
    checkpoint(before, "baseline_film", 0)
    checkpoint(before, "bridging_film", 0)


def period() -> dict:
    today = timezone.localdate()
    return {"periodStart": (today - timedelta(days=400)).isoformat(), "periodEnd": today}


def expected(clinic, start, end) -> dict[str, dict]:
    """Per checkpoint code, the populations from the rows (docs/fhir.md)."""
    now = timezone.now()
    found: dict[str, dict] = {}
    rows = Checkpoint.objects.filter(clinic=clinic).exclude(kind="milestone")
    for row in rows.select_related("surgery"):
        day = timezone.localtime(row.surgery.performed_at, clinic.zone).date()
        if not start <= day <= end:
            continue
        counts = found.setdefault(row.code, dict.fromkeys(
            ("on_time", "late", "missed", "not_applicable", "pending"), 0))  # fmt: skip
        met = row.satisfied_by_id is not None or row.answered_by_id is not None
        if row.waived_at is not None:
            counts["not_applicable"] += 1
        elif met:
            counts["late" if row.late else "on_time"] += 1
        elif row.overdue_at > now:
            counts["pending"] += 1
        else:
            owed = row.required or row.kind == "prom"  # a PROM closed unanswered is missed
            counts["missed" if owed else "not_applicable"] += 1
    return {
        code: {
            "initial-population": sum(c.values()),
            "denominator": sum(c.values()) - c["pending"],
            "denominator-exclusion": c["not_applicable"],
            "numerator": c["on_time"] + c["late"],
            "judged": c["on_time"] + c["late"] + c["missed"],
        }
        for code, c in found.items()
    }


def groups_of(report: dict) -> dict[str, dict]:
    groups = {}
    for group in report.get("group", []):
        (coding,) = group["code"]["coding"]
        assert coding["system"] == codes.CHECKPOINT
        groups[coding["code"]] = group
    return groups


def populations(group: dict) -> dict[str, int]:
    found = {}
    for population in group.get("population", []):
        (coding,) = population["code"]["coding"]
        assert coding["system"] == POPULATION
        found[coding["code"]] = population["count"]
    return found


def evaluated(persona, query=None, status=200) -> dict:
    response = persona.api.get(EVALUATE, query if query is not None else period())
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    return valid(response.json())


def test_the_report_is_valid_and_counts_what_the_rows_say(integration_a, clinic_a):
    planted(clinic_a)
    report = evaluated(integration_a)
    assert (report["resourceType"], report["status"], report["type"]) == (
        "MeasureReport", "complete", "summary")  # fmt: skip
    assert report["measure"] == measures.MEASURE_URL == f"{codes.BASE}/Measure/followup-capture"
    assert report["period"] == {k.removeprefix("period").lower(): str(v)
                                for k, v in period().items()}  # fmt: skip
    assert report["reporter"] == {"display": clinic_a.name}
    today = timezone.localdate()
    want = expected(clinic_a, today - timedelta(days=400), today)
    groups = groups_of(report)
    assert set(groups) == set(want) == {"baseline_film", "fusion_assessment", "prom_3m"}

    shown = groups["baseline_film"]
    assert populations(shown) == {k: v for k, v in want["baseline_film"].items() if k != "judged"}
    assert populations(shown) == {"initial-population": 10, "denominator": 8,
                                  "denominator-exclusion": 2, "numerator": 4}  # fmt: skip
    # numerator / (denominator - exclusion): a proportion, not a percentage.
    assert shown["measureScore"] == {"value": 4 / 6}

    # Five PROMs closed unanswered: judged and missed, not excluded as optional
    prom = {"initial-population": 5, "denominator": 5, "denominator-exclusion": 0, "numerator": 0}
    assert populations(groups["prom_3m"]) == prom
    assert groups["prom_3m"]["measureScore"] == {"value": 0}

    hidden = groups["fusion_assessment"]  # 2 judged, under the minimum of 5
    assert "population" not in hidden
    assert hidden["measureScore"] == {
        "extension": [{"url": measures.DATA_ABSENT_REASON, "valueCode": "masked"}]
    }


def test_the_report_has_the_json_reports_capture_figures(integration_a, clinic_a):
    planted(clinic_a)
    report = evaluated(integration_a)
    today = timezone.localdate()
    filters = selection.Filters(performed_from=today - timedelta(days=400), performed_to=today)
    json_rows = outcomes.run(clinic_a, filters, timezone.now())["capture"]
    groups = groups_of(report)
    assert len(groups) == len(json_rows)
    for row in json_rows:
        group = groups[row["code"]]
        assert group["code"]["coding"][0]["display"] == row["label"]
        if row["suppressed"]:
            assert "population" not in group and "value" not in group["measureScore"]
            continue
        counts = populations(group)
        assert counts["numerator"] == row["on_time"] + row["late"]
        assert counts["denominator"] - counts["denominator-exclusion"] == row["judged"]
        assert counts["initial-population"] - counts["denominator"] == row["pending"]
        assert group["measureScore"]["value"] == row["capture_rate"]["value"]


def test_a_raised_minimum_suppresses_every_group(integration_a, clinic_a):
    from followup.models import OutcomeStandards

    planted(clinic_a)
    OutcomeStandards.objects.create(clinic=clinic_a, min_group_size=50)
    groups = groups_of(evaluated(integration_a))
    assert groups and all("population" not in g for g in groups.values())
    assert all("value" not in g["measureScore"] for g in groups.values())


def test_a_period_at_the_precision_of_a_year_or_a_month(integration_a, clinic_a):
    planted(clinic_a)
    report = evaluated(integration_a, {"periodStart": "2000", "periodEnd": "2001-02"})
    assert report["period"] == {"start": "2000-01-01", "end": "2001-02-28"}
    assert "group" not in report  # no surgery then
    for report_type in ("summary", "population"):
        evaluated(integration_a, {**period(), "reportType": report_type})


def test_the_measure_is_read(integration_a):
    measure = valid(fhir_get(integration_a, MEASURE))
    assert measure["url"] == measures.MEASURE_URL and measure["status"] == "active"
    assert measure["scoring"]["coding"][0]["code"] == "proportion"
    (group,) = measure["group"]
    assert [p["code"]["coding"][0]["code"] for p in group["population"]] == [
        "initial-population", "denominator", "denominator-exclusion", "numerator"]  # fmt: skip
    assert all(p["description"] for p in group["population"])
    outcome = valid(fhir_get(integration_a, "/fhir/r4/Measure/another", status=404))
    assert outcome["issue"][0]["code"] == "not-found"


def test_nothing_names_an_example_domain(integration_a, clinic_a):
    planted(clinic_a)
    for response in (integration_a.api.get(MEASURE), integration_a.api.get(EVALUATE, period())):
        body = response.content.decode()
        assert ".example/" not in body and "example.org" not in body


BAD = [
    ({"periodEnd": "2026-01-01"}, "periodStart"),
    ({"periodStart": "2026-01-01"}, "periodEnd"),
    ({"periodStart": "2026-13-01", "periodEnd": "2026-12-31"}, "periodStart"),
    ({"periodStart": "yesterday", "periodEnd": "2026-12-31"}, "periodStart"),
    ({"periodStart": "2026-01-01T10:00:00Z", "periodEnd": "2026-12-31"}, "periodStart"),
    ({"periodStart": "2026-01-01", "periodEnd": "2026-02-30"}, "periodEnd"),
    ({"periodStart": "2026-06-01", "periodEnd": "2026-01-01"}, "periodEnd"),
    ({"periodStart": ["2026-01-01", "2026-02-01"], "periodEnd": "2026-12-31"}, "periodStart"),
    ({"periodStart": "2026", "periodEnd": "2026", "reportType": "subject-list"}, "reportType"),
    ({"periodStart": "2026", "periodEnd": "2026", "subject": "Patient/1"}, "subject"),
    ({"periodStart": "2026", "periodEnd": "2026", "_count": "5"}, "_count"),
    ({"periodStart": "2026", "periodEnd": "2026", "clinic": "A"}, "clinic"),
]


@pytest.mark.parametrize(("query", "parameter"), BAD, ids=[str(q) for q, _ in BAD])
def test_a_parameter_it_cannot_read_is_a_400_naming_it(integration_a, query, parameter):
    outcome = evaluated(integration_a, query, status=400)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "invalid"
    assert parameter in outcome["issue"][0]["diagnostics"]
    assert not RecordRead.objects.exists()


def test_a_clinic_sees_its_own_figures_only(integration_a, integration_b, clinic_a, clinic_b):
    planted(clinic_a)
    for _ in range(5):  # B: five missed bridging films, nothing else
        checkpoint(surgery_with(clinic_b, 200), "bridging_film", 0)
    today = timezone.localdate()
    groups = groups_of(evaluated(integration_b))
    assert set(groups) == set(expected(clinic_b, today - timedelta(days=400), today))
    assert set(groups) == {"bridging_film"}
    assert populations(groups["bridging_film"]) == {
        "initial-population": 5,
        "denominator": 5,
        "denominator-exclusion": 0,
        "numerator": 0,
    }
    assert groups["bridging_film"]["measureScore"] == {"value": 0.0}
    # A's figures are A's alone: B's rows are not in them.
    assert set(groups_of(evaluated(integration_a))) == {
        "baseline_film",
        "fusion_assessment",
        "prom_3m",
    }
    # Naming A's clinic is asking for a report that does not exist.
    outcome = evaluated(integration_b, {**period(), "clinic": clinic_a.pk}, status=404)
    assert outcome["issue"][0]["code"] == "not-found"
    assert not RecordRead.objects.filter(clinic=clinic_a, client=integration_b.client).exists()


def test_staff_of_two_clinics_say_which(staff_a, clinic_a, clinic_b):
    planted(clinic_a)
    staff_a.user.memberships.create(clinic=clinic_b, role=Role.VIEWER)
    outcome = evaluated(staff_a, period(), status=400)
    assert "clinic" in outcome["issue"][0]["diagnostics"]
    mine = evaluated(staff_a, {**period(), "clinic": clinic_a.pk})
    assert set(groups_of(mine)) == {"baseline_film", "fusion_assessment", "prom_3m"}
    theirs = evaluated(staff_a, {**period(), "clinic": clinic_b.pk})
    assert theirs["reporter"] == {"display": clinic_b.name} and "group" not in theirs


def test_no_credentials_is_a_401(anonymous, clinic_a):
    for url in (MEASURE, f"{EVALUATE}?periodStart=2026&periodEnd=2026"):
        outcome = valid(fhir_get(anonymous, url, status=401))
        assert outcome["issue"][0]["code"] == "login", url


def test_a_token_without_the_fhir_scope_is_refused(clinic_a):
    from tests.conftest import persona_with

    rest_only = persona_with(clinic_a, "REST only", ["read"])
    evaluated(rest_only, period(), status=403)


def test_the_evaluation_is_audited_with_no_patient(integration_a, staff_a, clinic_a):
    planted(clinic_a)
    evaluated(integration_a)
    read = RecordRead.objects.get()
    assert (read.clinic, read.client, read.user) == (clinic_a, integration_a.client, None)
    assert read.patient_ids == []
    assert read.endpoint == "/fhir/r4/Measure/followup-capture/$evaluate-measure"
    evaluated(staff_a)
    assert RecordRead.objects.get(user=staff_a.user).patient_ids == []
    fhir_get(integration_a, MEASURE)  # the definition: no clinic's data, nothing to audit
    assert RecordRead.objects.count() == 2
