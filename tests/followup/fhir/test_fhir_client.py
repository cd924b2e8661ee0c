"""A third-party FHIR client (fhirpy, synchronous) drives a live server over HTTP, as an
EHR integrator would: finds a patient by the hospital's MRN, pages through their
findings by category and date, reads. Every answer is valid R4."""

from datetime import timedelta

import pytest
from django.utils import timezone
from fhirpy import SyncFHIRClient

from followup.fhir import codes
from patients.models import ApiClient, Assessment
from tests import factories

from .conftest import valid

HOSPITAL = "urn:oid:1.2.250.1.71.4.2.7"


@pytest.fixture
def ehr(live_server, clinic_a) -> SyncFHIRClient:
    _, token = ApiClient.issue(clinic_a, "EHR over HTTP", ["read", "fhir"])
    return SyncFHIRClient(
        f"{live_server.url}/fhir/r4",
        authorization=f"Bearer {token}",
        extra_headers={"Accept": "application/fhir+json"},
    )


def test_an_ehr_client_finds_pages_and_reads_over_http(ehr, clinic_a):
    clinic_a.mrn_system = HOSPITAL
    clinic_a.save()
    patient = factories.patient(clinic_a)
    factories.patient(clinic_a)  # another patient, never in the answers
    surgery = factories.surgery(patient, timezone.now() - timedelta(days=400))
    findings = set()
    for days in range(390, 40, -50):  # 7 exams, 2 findings each
        exam = factories.exam(
            patient,
            surgery,
            performed_at=timezone.now() - timedelta(days=days),
            findings=[
                {"code": "bridging", "value": "partial", "level": "L4-L5"},
                {"code": "screw_lucency_mm", "value": 1.5, "level": "L5", "side": "left"},
            ],
        )
        if days <= 300:
            findings |= {f"finding-{f.pk}" for f in exam.findings.all()}
    Assessment.objects.create(patient=patient, assessed_at=timezone.now(), nrs_back=2)

    found = ehr.resources("Patient").search(identifier=f"{HOSPITAL}|{patient.mrn}").fetch_all()
    assert [p.id for p in found] == [str(patient.pk)]
    mrn = [i for i in valid(found[0].serialize())["identifier"] if i.get("type")]
    assert mrn == [codes.mrn_identifier(patient.mrn, HOSPITAL)]

    since = (timezone.now() - timedelta(days=300)).date().isoformat()
    search = ehr.resources("Observation").search(
        patient=f"Patient/{found[0].id}", category="imaging", date=f"ge{since}"
    )
    pages = []
    bundle = search.limit(4).fetch_raw()
    while True:  # fhirpy's raw pages, following `next` as the server gave it
        pages.append(valid(bundle))
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        bundle = ehr.execute(following[0], method="get")
    seen = [e["resource"]["id"] for page in pages for e in page.get("entry", [])]
    assert len(pages) == 3 and len(seen) == len(set(seen)) == len(findings) == 10
    assert set(seen) == findings
    # fetch_all follows the same links by itself.
    assert {o.id for o in search.limit(3).fetch_all()} == findings

    observation = ehr.reference("Observation", sorted(findings)[0]).to_resource()
    assert valid(observation.serialize())["category"][0]["coding"][0]["code"] == "imaging"
    assert observation["subject"]["reference"] == f"Patient/{patient.pk}"
    # fhirpy's count() adds Aidbox's _totalMethod, which this server refuses: ask it plainly.
    summary = ehr.resources("Observation").search(patient=patient.pk, _summary="count")
    assert valid(summary.fetch_raw())["total"] == 15
