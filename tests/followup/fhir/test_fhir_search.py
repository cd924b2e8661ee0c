"""The searches EHR apps use: Observation by category, code and date; reports and studies
by date; Flags by status; _lastUpdated, _include, _summary=count; keyset pages; and the
hospital's own MRN system in what is served and searched."""

from datetime import timedelta

import pytest
from django.utils import timezone

from followup.fhir import codes
from patients.models import Assessment, PatientIdentifier
from tests import factories

from .conftest import alert, fhir_get, search, valid

HOSPITAL = "urn:oid:1.2.250.1.71.4.2.7"


def ids(resources) -> set[str]:
    return {r["id"] for r in resources}


def all_pages(persona, url: str) -> list[dict]:
    """Every entry of every page, following `next`, each page a valid Bundle."""
    found = []
    bundle = valid(fhir_get(persona, url))
    while True:
        found += [e["resource"] for e in bundle.get("entry", [])]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            return found
        bundle = valid(fhir_get(persona, following[0]))


@pytest.fixture
def observations(record):
    exam, assessment = record["exam"], record["assessment"]
    findings = {f.code: f"finding-{f.pk}" for f in exam.findings.all()}
    scores = {
        "nrs_back": f"assessment-{assessment.pk}-nrs-back",
        "odi": f"assessment-{assessment.pk}-odi",
    }
    return record["patient"].pk, findings, scores


def test_observations_by_category(integration_a, observations):
    patient, findings, scores = observations
    base = f"/fhir/r4/Observation?patient={patient}"
    assert ids(search(integration_a, f"{base}&category=imaging")) == set(findings.values())
    assert ids(search(integration_a, f"{base}&category=survey")) == set(scores.values())
    both = f"{base}&category={codes.OBSERVATION_CATEGORY}|survey,imaging"
    assert ids(search(integration_a, both)) == set(findings.values()) | set(scores.values())
    assert search(integration_a, f"{base}&category=laboratory") == []


def test_observations_by_code(integration_a, observations):
    patient, findings, scores = observations
    base = f"/fhir/r4/Observation?patient={patient}"
    lucency = f"{codes.FINDING}|screw_lucency_mm"
    assert ids(search(integration_a, f"{base}&code={lucency}")) == {findings["screw_lucency_mm"]}
    assert ids(search(integration_a, f"{base}&code=bridging")) == {findings["bridging"]}
    assert ids(search(integration_a, f"{base}&code=http://loinc.org|97909-6")) == {scores["odi"]}
    assert ids(search(integration_a, f"{base}&code=72514-3")) == {scores["nrs_back"]}
    assert ids(search(integration_a, f"{base}&code={codes.ASSESSMENT}|odi,bridging")) == {
        scores["odi"],
        findings["bridging"],
    }
    assert search(integration_a, f"{base}&code=http://loinc.org|bridging") == []
    assert search(integration_a, f"{base}&category=survey&code=bridging") == []


def test_observations_by_date(integration_a, observations, record):
    patient, findings, scores = observations
    base = f"/fhir/r4/Observation?patient={patient}&category=imaging,survey"
    exam_day = record["exam"].performed_at.astimezone(record["patient"].clinic.zone).date()
    assessed = record["assessment"].assessed_at
    # The exam is 90 days old, the assessment 60: a day between them splits them.
    between = (timezone.now() - timedelta(days=75)).date().isoformat()
    assert ids(search(integration_a, f"{base}&date=lt{between}")) == set(findings.values())
    assert ids(search(integration_a, f"{base}&date=ge{between}")) == set(scores.values())
    assert ids(search(integration_a, f"{base}&date={exam_day}")) == set(findings.values())
    assert ids(search(integration_a, f"{base}&date=eq{exam_day.isoformat()[:7]}")) >= set(
        findings.values()
    )
    moment = assessed.astimezone().isoformat(timespec="seconds")
    exact = search(integration_a, f"{base}&date={moment.replace('+', '%2B')}")
    assert ids(exact) == set(scores.values())
    later = (assessed + timedelta(seconds=1)).isoformat(timespec="seconds").replace("+", "%2B")
    assert ids(search(integration_a, f"{base}&date=le{later}")) == ids(search(integration_a, base))
    assert search(integration_a, f"{base}&date=gt{later}") == []
    window = f"{base}&date=gt{between}&date=le{later}"
    assert ids(search(integration_a, window)) == set(scores.values())


def test_reports_and_studies_by_date(integration_a, record):
    patient, exam, mri = record["patient"].pk, record["exam"], record["mri"]
    between = (timezone.now() - timedelta(days=60)).date().isoformat()
    studies = f"/fhir/r4/ImagingStudy?patient={patient}"
    assert ids(search(integration_a, f"{studies}&started=ge{between}")) == {str(mri.pk)}
    assert ids(search(integration_a, f"{studies}&started=lt{between}")) == {str(exam.pk)}
    reports = f"/fhir/r4/DiagnosticReport?patient={patient}"
    assert ids(search(integration_a, f"{reports}&date=le{between}")) == {str(exam.pk)}
    assert ids(search(integration_a, f"{reports}&date=gt{between}")) == {str(mri.pk)}


def test_flags_by_status(integration_a, record):
    base = f"/fhir/r4/Flag?patient={record['patient'].pk}"
    open_, resolved = str(record["alert"].pk), str(record["resolved_alert"].pk)
    assert ids(search(integration_a, base)) == {open_}
    assert ids(search(integration_a, f"{base}&status=active")) == {open_}
    assert ids(search(integration_a, f"{base}&status=inactive")) == {resolved}
    assert ids(search(integration_a, f"{base}&status=active,inactive")) == {open_, resolved}


def test_last_updated_finds_what_changed_since(integration_a, record):
    patient = record["patient"]
    # Since just before the record was written (the fixture can take seconds on a busy machine).
    before = patient.created_at - timedelta(seconds=1)
    since = before.isoformat(timespec="seconds").replace("+", "%2B")
    for resource_type in ("Procedure", "ImagingStudy", "DiagnosticReport", "CarePlan", "Flag"):
        url = f"/fhir/r4/{resource_type}?patient={patient.pk}&_lastUpdated=gt{since}"
        assert search(integration_a, url) != [], resource_type
    later = (timezone.now() + timedelta(seconds=2)).isoformat(timespec="seconds")
    later = later.replace("+", "%2B")
    for resource_type in ("Patient", "Procedure", "ImagingStudy", "CarePlan", "Flag"):
        url = f"/fhir/r4/{resource_type}?_lastUpdated=gt{later}"
        assert search(integration_a, url) == [], resource_type
    observations = f"/fhir/r4/Observation?patient={patient.pk}&_lastUpdated=gt{later}"
    assert search(integration_a, observations) == []
    # A changed score, and only it, is found again after the last sync.
    assessment = record["assessment"]
    assessment.save()
    changed = search(
        integration_a, f"/fhir/r4/Observation?patient={patient.pk}&_lastUpdated=ge{since}"
    )
    assert ids(changed) >= {f"assessment-{assessment.pk}-odi"}
    found = search(integration_a, f"/fhir/r4/Patient?_lastUpdated=ge{since}")
    assert ids(found) == {str(patient.pk)}


def test_care_plan_last_updated_follows_its_checkpoints(integration_a, record):
    surgery, checkpoint = record["surgery"], record["checkpoint"]
    mark = timezone.now()
    checkpoint.save()
    since = mark.isoformat().replace("+", "%2B")
    found = search(integration_a, f"/fhir/r4/CarePlan?_lastUpdated=ge{since}")
    assert ids(found) == {str(surgery.pk)}
    assert found[0]["meta"]["lastUpdated"] >= mark.astimezone(timezone.UTC).isoformat()


def test_include_the_results_of_reports(integration_a, record):
    exam = record["exam"]
    url = (
        f"/fhir/r4/DiagnosticReport?patient={record['patient'].pk}&_include=DiagnosticReport:result"
    )
    bundle = valid(fhir_get(integration_a, url))
    modes = {}
    for entry in bundle["entry"]:
        modes.setdefault(entry["search"]["mode"], set()).add(entry["resource"]["id"])
    assert modes["match"] == {str(exam.pk), str(record["mri"].pk)}
    assert modes["include"] == {f"finding-{f.pk}" for f in exam.findings.all()}
    results = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == str(exam.pk))
    assert {r["reference"].removeprefix("Observation/") for r in results["result"]} == (
        modes["include"]
    )


def test_summary_count(integration_a, record):
    patient = record["patient"].pk
    expected = [
        ("Observation", "", 5),
        ("Observation", "&category=survey", 2),
        ("Observation", "&code=odi,bridging", 2),
        ("ImagingStudy", "", 2),
        ("Flag", "", 1),
        ("Procedure", "", 1),
    ]
    for resource_type, extra, total in expected:
        url = f"/fhir/r4/{resource_type}?patient={patient}{extra}&_summary=count"
        bundle = valid(fhir_get(integration_a, url))
        assert (bundle["total"], "entry" in bundle) == (total, False), url


def test_identifiers_go_out_and_are_searched_under_the_hospitals_mrn_system(integration_a, record):
    clinic, patient = record["patient"].clinic, record["patient"]
    clinic.mrn_system = HOSPITAL
    clinic.save()
    resource = valid(fhir_get(integration_a, f"/fhir/r4/Patient/{patient.pk}"))
    mrn = [i for i in resource["identifier"] if i.get("type")]
    assert mrn == [codes.mrn_identifier(patient.mrn, HOSPITAL)]
    found = search(integration_a, f"/fhir/r4/Patient?identifier={HOSPITAL}|{patient.mrn}")
    assert ids(found) == {str(patient.pk)}
    # The service's default system is no longer this clinic's.
    default = f"/fhir/r4/Patient?identifier={codes.MRN_SYSTEM}|{patient.mrn}"
    assert search(integration_a, default) == []
    # An earlier MRN kept under the hospital's system finds the patient as well.
    PatientIdentifier.objects.create(patient=patient, system=HOSPITAL, value="OLD-9")
    found = search(integration_a, f"/fhir/r4/Patient?identifier={HOSPITAL}|OLD-9")
    assert ids(found) == {str(patient.pk)}


def test_nothing_served_names_an_example_domain(integration_a, record):
    urls = ["/fhir/r4/metadata", f"/fhir/r4/Patient/{record['patient'].pk}"]
    urls += [
        f"/fhir/r4/{t}?patient={record['patient'].pk}"
        for t in ("Procedure", "ImagingStudy", "DiagnosticReport", "Observation", "CarePlan")
    ]
    urls.append(f"/fhir/r4/Flag?patient={record['patient'].pk}&status=active,inactive")
    for url in urls:
        body = integration_a.api.get(url).content.decode()
        assert ".example/" not in body and "example.org" not in body, url
    assert codes.BASE.startswith("http") and "example" not in codes.BASE


BAD_SEARCHES = [
    ("/fhir/r4/Procedure?subject=1", "subject"),
    ("/fhir/r4/Patient?family=x", "family"),
    ("/fhir/r4/Procedure?patient=x", "patient"),
    ("/fhir/r4/Observation", "patient"),
    ("/fhir/r4/Observation?patient=1&value-quantity=3", "value-quantity"),
    ("/fhir/r4/Observation?patient=1&date=2026-13-01", "date"),
    ("/fhir/r4/Observation?patient=1&date=ne2026-01-01", "date"),
    ("/fhir/r4/Observation?patient=1&date=2026-01-01T10:00", "date"),
    ("/fhir/r4/Observation?patient=1&code=", "code"),
    ("/fhir/r4/Observation?patient=1&_count=0", "_count"),
    ("/fhir/r4/Observation?patient=1&_count=many", "_count"),
    ("/fhir/r4/Observation?patient=1&_cursor=nonsense", "_cursor"),
    ("/fhir/r4/Observation?patient=1&_cursor=WzFd", "_cursor"),
    ("/fhir/r4/Procedure?_cursor=WyJmIiwgMV0", "_cursor"),
    ("/fhir/r4/Procedure?_lastUpdated=yesterday", "_lastUpdated"),
    ("/fhir/r4/Procedure?_summary=true", "_summary"),
    ("/fhir/r4/DiagnosticReport?_include=DiagnosticReport:subject", "_include"),
    ("/fhir/r4/Procedure?_include=DiagnosticReport:result", "_include"),
    ("/fhir/r4/ImagingStudy?date=2026", "date"),
    ("/fhir/r4/ImagingStudy?started=lt", "started"),
    ("/fhir/r4/Flag?status=open", "status"),
    ("/fhir/r4/Patient?patient=1", "patient"),
]


@pytest.mark.parametrize(("url", "parameter"), BAD_SEARCHES, ids=[u for u, _ in BAD_SEARCHES])
def test_a_search_the_server_cannot_do_is_a_400_naming_the_parameter(integration_a, url, parameter):
    outcome = valid(fhir_get(integration_a, url, status=400))
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "invalid"
    assert parameter in outcome["issue"][0]["diagnostics"]


# Paging: every row once, across pages and the two tables of Observation.


def test_observation_pages_hold_every_finding_and_score_once(integration_a, clinic_a):
    patient = factories.patient(clinic_a)
    surgery = factories.surgery(patient)
    expected = set()
    for n in range(4):
        exam = factories.exam(
            patient,
            surgery,
            findings=[
                {"code": "bridging", "value": "partial", "level": "L4-L5"},
                {"code": "vacuum_disc", "value": n % 2 == 0},
            ],
        )
        expected |= {f"finding-{f.pk}" for f in exam.findings.all()}
    for days in range(5):
        row = Assessment.objects.create(
            patient=patient,
            assessed_at=timezone.now() - timedelta(days=days),
            nrs_back=days,
            nrs_leg=None if days % 2 else 3,
            odi=20,
        )
        expected |= {
            f"assessment-{row.pk}-{name}"
            for name, value in (("nrs-back", 1), ("nrs-leg", row.nrs_leg), ("odi", 1))
            if value is not None
        }
    for size in (1, 2, 3, 7, 50):
        found = all_pages(integration_a, f"/fhir/r4/Observation?patient={patient.pk}&_count={size}")
        assert len(found) == len(expected), size
        assert ids(found) == expected, size
    # A row added while a client pages is never sent twice, nor makes one skipped.
    first = valid(fhir_get(integration_a, f"/fhir/r4/Observation?patient={patient.pk}&_count=5"))
    Assessment.objects.create(patient=patient, assessed_at=timezone.now(), odi=10)
    seen = [e["resource"]["id"] for e in first["entry"]]
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    seen += [r["id"] for r in all_pages(integration_a, following)]
    assert len(seen) == len(set(seen)) and set(seen) >= expected


def test_flag_pages_hold_every_alert_once(integration_a, clinic_a):
    patient = factories.patient(clinic_a)
    surgery = factories.surgery(patient)
    expected = {str(alert(surgery, subject=f"L{n}").pk) for n in range(7)}
    found = all_pages(integration_a, f"/fhir/r4/Flag?patient={patient.pk}&_count=3")
    assert sorted(r["id"] for r in found) == sorted(expected)


def test_the_capability_statement_declares_exactly_the_searches_served(integration_a):
    from followup.fhir import observation_search
    from followup.fhir import search as fhir_search
    from followup.fhir.urls import VIEWSETS

    statement = valid(fhir_get(integration_a, "/fhir/r4/metadata"))
    declared = {
        r["type"]: {p["name"] for p in r.get("searchParam", [])}
        | ({"_include"} if "searchInclude" in r else set())
        for r in statement["rest"][0]["resource"]
    }
    served = {name: set(view.search_params) for name, view in VIEWSETS.items()}
    served["Observation"] = set(observation_search.PARAMS)
    internal = {"_cursor", "_format"}  # the next link's own, and JSON always
    for name, params in served.items():
        assert declared[name] == params | (fhir_search.COMMON - internal), name
