"""Every /api/ and /fhir/ route, from the URL configuration, tried by clinic B on clinic A.

B reads, changes and deletes A's objects through each route, with every method: a
detail route answers exactly as for an object that does not exist (404, or 403/405
where the method or the caller is not allowed); a list or search filtered on A's
objects is empty; a request that names A's objects (a POST, a bulk, a transaction)
answers exactly as if they did not exist. No answer shows A's data, and A's rows are
the same afterwards.

The tables below say how to build A's object id for each route. A route that appears
in the URL configuration and not in the tables fails the sweep: add it here.
"""

import json
import re
from urllib.parse import urlencode

import pytest
from django.forms.models import model_to_dict
from django.urls import URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from followup.fhir import codes
from followup.models import Alert, Checkpoint, WebhookEndpoint
from imaging.models import ImagingExam
from patients.models import Assessment, ClinicalEvent, Patient, Surgery

from .conftest import clinic_records

METHODS = ["get", "head", "options", "post", "put", "patch", "delete"]
MISSING = 987654321  # an id no row has
MARKER = "AAA"  # in A's names, notes, report, messages and webhook URL (conftest)

# Detail routes: route name -> A's object id in that route.
OBJECT_ID = {
    "patient-detail": lambda a: a["patient"].pk,
    "patient-timeline": lambda a: a["patient"].pk,
    "surgery-detail": lambda a: a["surgery"].pk,
    "clinicalevent-detail": lambda a: a["event"].pk,
    "assessment-detail": lambda a: a["assessment"].pk,
    "imagingexam-detail": lambda a: a["exam"].pk,
    "checkpoint-detail": lambda a: a["checkpoint"].pk,
    "checkpoint-waive": lambda a: a["checkpoint"].pk,
    "alert-detail": lambda a: a["alert"].pk,
    "alert-acknowledge": lambda a: a["alert"].pk,
    "alert-resolve": lambda a: a["alert"].pk,
    "alert-snooze": lambda a: a["alert"].pk,
    "subscription-detail": lambda a: a["subscription"].pk,
    "webhookendpoint-detail": lambda a: a["webhook"].pk,
    "fhir-Patient": lambda a: a["patient"].pk,
    "fhir-Procedure": lambda a: a["surgery"].pk,
    "fhir-ImagingStudy": lambda a: a["exam"].pk,
    "fhir-DiagnosticReport": lambda a: a["exam"].pk,
    "fhir-CarePlan": lambda a: a["surgery"].pk,
    "fhir-Flag": lambda a: a["alert"].pk,
    "fhir-observation": lambda a: f"finding-{a['finding'].pk}",
    "fhir-Subscription": lambda a: a["fhir_subscription"].pk,
    "fhir-Subscription-status": lambda a: a["fhir_subscription"].pk,
    # Anything else under /fhir/r4/ (an unknown type): A's patient under another name.
    "fhir/r4/^(?P<path>.+)$": lambda a: f"Person/{a['patient'].pk}",
}
# Another form of id some detail routes take, tried as well.
OTHER_IDS = {
    "fhir-observation": lambda a: f"assessment-{a['assessment'].pk}-nrs-back",
}
# What B sends to change A's object (PATCH, PUT, POST on an action, DELETE).
CHANGES = {
    "patient-detail": {"family_name": "Changed", "mrn": "CHANGED"},
    "surgery-detail": {"surgeon": "Dr Changed", "notes": "Changed"},
    "clinicalevent-detail": {"notes": "Changed"},
    "assessment-detail": {"nrs_back": 9},
    "imagingexam-detail": {"report": "Changed"},
    "checkpoint-waive": {"reason": "Not needed"},
    "alert-resolve": {"note": "Closed by B"},
    "alert-snooze": {"until": "2100-01-01T00:00:00Z"},
    "subscription-detail": {"digest": False, "urgent": False},
    "webhookendpoint-detail": {"active": False, "url": "https://evil.example/"},
}


def _pid(a):
    return a["patient"].pk


def _sid(a):
    return a["surgery"].pk


# List and search routes: route name -> the queries that could show A's objects.
QUERIES = {
    "patient-list": lambda a: [
        {},
        {"mrn": a["patient"].mrn},
        {"family_name": a["patient"].family_name},
        {"identifier": f"{a['identifier'].system}|{a['identifier'].value}"},
    ],
    "surgery-list": lambda a: [{}, {"patient": _pid(a)}, {"patient": _pid(a), "procedure": "tlif"}],
    "clinicalevent-list": lambda a: [{}, {"patient": _pid(a)}, {"surgery": _sid(a)}],
    "assessment-list": lambda a: [{}, {"patient": _pid(a)}, {"surgery": _sid(a)}],
    "imagingexam-list": lambda a: [
        {},
        {"patient": _pid(a)},
        {"surgery": _sid(a)},
        {"accession_number": a["exam"].accession_number},
        {"study_instance_uid": a["exam"].study_instance_uid},
    ],
    "checkpoint-list": lambda a: [{}, {"patient": _pid(a)}, {"surgery": _sid(a)}],
    "alert-list": lambda a: [
        {},
        {"patient": _pid(a)},
        {"surgery": _sid(a)},
        {"patient": _pid(a), "status": "open"},
    ],
    "subscription-list": lambda a: [{}],
    "webhookendpoint-list": lambda a: [{}],
    "fhir-Patient-search": lambda a: [
        {},
        {"identifier": a["patient"].mrn},
        {"identifier": f"{codes.MRN_SYSTEM}|{a['patient'].mrn}"},
        {"identifier": f"{a['identifier'].system}|{a['identifier'].value}"},
    ],
    **{
        f"fhir-{kind}-search": lambda a: [
            {},
            {"patient": _pid(a)},
            {"patient": f"Patient/{_pid(a)}"},
        ]
        for kind in ("Procedure", "ImagingStudy", "DiagnosticReport", "CarePlan", "Flag")
    },
    "fhir-observation-search": lambda a: [{"patient": _pid(a)}, {"patient": f"Patient/{_pid(a)}"}],
    "fhir-Subscription-search": lambda a: [{}],
    # B's report is of B's clinic, nothing of A in it (A's clinic named is a 404:
    # tests/followup/reports/test_api_outcomes.py).
    "reports-outcomes": lambda a: [{}],
    # The same figures over FHIR, the period required (OWN_FIGURES below).
    "fhir-Measure-evaluate-measure": lambda a: [
        {"periodStart": "2000-01-01", "periodEnd": "2100-12-31"}
    ],
}
# Answers of the caller's own clinic's figures: never empty for B, who has rows of its
# own, so only A's markers are looked for (A's counts are not in B's figures:
# tests/followup/fhir/test_fhir_measure_report.py).
OWN_FIGURES = {"fhir-Measure-evaluate-measure"}


def _procedure(patient_id) -> dict:
    return {
        "resourceType": "Procedure",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "code": {"coding": [{"system": codes.PROCEDURE, "code": "tlif"}]},
        "performedDateTime": "2025-01-10T10:00:00Z",
    }


def _bundle(*resources) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": f"urn:uuid:e-{n}", "resource": r,
             "request": {"method": "POST", "url": r["resourceType"]}}
            for n, r in enumerate(resources)
        ],
    }  # fmt: skip


# Routes that create (POST on a list, bulk, transaction): a body naming A's objects, as
# a function of (A's records, the patient id, the surgery id), so that the same body
# with ids that do not exist gives the answer to expect.
CREATES = {
    "patient-list": lambda a, pid, sid: {
        "clinic": a["patient"].clinic.slug if pid == _pid(a) else "no-such-clinic",
        "mrn": a["patient"].mrn,
        "family_name": "Intruder",
    },
    "patient-bulk": lambda a, pid, sid: {
        "records": [
            {
                "clinic": a["patient"].clinic.slug if pid == _pid(a) else "no-such-clinic",
                "mrn": a["patient"].mrn,
                "family_name": "Intruder",
            }
        ]
    },
    "surgery-list": lambda a, pid, sid: {
        "patient": pid,
        "performed_at": "2025-01-10",
        "procedure": "tlif",
    },
    "surgery-bulk": lambda a, pid, sid: {
        "records": [{"patient": pid, "performed_at": "2025-01-10", "procedure": "tlif"}]
    },
    "clinicalevent-list": lambda a, pid, sid: {
        "patient": pid,
        "surgery": sid,
        "code": "new_radicular_pain",
        "occurred_at": "2025-12-01",
    },
    "assessment-list": lambda a, pid, sid: {
        "patient": pid,
        "surgery": sid,
        "assessed_at": "2025-12-01",
        "nrs_back": 2,
    },
    "imagingexam-list": lambda a, pid, sid: {
        "patient": pid,
        "surgery": sid,
        "modality": "XR",
        "performed_at": "2025-12-01",
        "accession_number": a["exam"].accession_number,
        "report": "Overwritten",
    },
    "imagingexam-bulk": lambda a, pid, sid: {
        "records": [
            {
                "patient": pid,
                "surgery": sid,
                "modality": "XR",
                "performed_at": "2025-12-01",
                "accession_number": a["exam"].accession_number,
                "report": "Overwritten",
            }
        ]
    },
    "subscription-list": lambda a, pid, sid: {
        "clinic": a["patient"].clinic.slug if pid == _pid(a) else "no-such-clinic"
    },
    "webhookendpoint-list": None,  # registers B's own receiver: nothing of A's to name
    "checkpoint-list": None,
    "alert-list": None,
    "fhir-transaction": lambda a, pid, sid: _bundle(_procedure(pid)),
}
# Routes that answer the same to everybody and hold no clinic's data.
# The same for every caller: the schema, the CapabilityStatement, the SMART configuration,
# the subscription topics (R4 `Basic`), the Measure (its definition).
STATIC = {"schema", "docs", "fhir-metadata", "fhir-smart-configuration", "fhir-Basic-search",
          "fhir-Basic", "fhir-Measure"}  # fmt: skip
STATIC_ID = {"fhir-Basic": "topic-alert", "fhir-Measure": "followup-capture"}  # no clinic's


def route_key(name: str | None, route: str) -> str:
    return name or route


def routes() -> dict[str, str]:
    """Every route under /api/ and /fhir/, by name (by pattern when unnamed)."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield (
                    route_key(pattern.name, prefix + str(pattern.pattern)),
                    prefix + str(pattern.pattern),
                )

    return {
        key: route
        for key, route in walk(get_resolver().url_patterns)
        if route.startswith(("api/", "fhir/"))
    }


def known() -> set[str]:
    return set(OBJECT_ID) | set(QUERIES) | set(CREATES) | STATIC


def test_the_sweep_knows_every_api_and_fhir_route():
    found = set(routes())
    assert found - known() == set(), "routes the sweep does not exercise: add them to the tables"
    assert known() - found == set(), "routes in the tables that no longer exist"


def test_the_tables_name_real_objects(clinic_a, staff_a):
    a = clinic_records(clinic_a, staff_a.user, tag=MARKER)
    for name in OBJECT_ID:
        assert OBJECT_ID[name](a)
    for name, change in CHANGES.items():
        assert name in OBJECT_ID and isinstance(change, dict)


# --- the sweep -------------------------------------------------------------------------


@pytest.fixture(params=["full_integration_b", "staff_b"])
def outsider(request, records_b):
    return request.getfixturevalue(request.param)


def url_for(name: str, pk=None) -> str:
    if name.startswith("fhir/r4/"):
        return f"/fhir/r4/{pk}"
    return reverse(name, kwargs={"pk": pk}) if pk is not None else reverse(name)


def send(persona, method: str, url: str, body=None):
    content_type = "application/fhir+json" if url.startswith("/fhir/") else "application/json"
    data = json.dumps(body) if body is not None else None
    kwargs = {"content_type": content_type} if data is not None else {}
    return (
        getattr(persona.api, method)(url, data, **kwargs)
        if data
        else getattr(persona.api, method)(url)
    )


def text_of(response) -> str:
    return response.content.decode("utf-8", "replace")


def without_ids(text: str, *ids) -> str:
    for value in ids:
        text = re.sub(rf"(?<![\w-]){re.escape(str(value))}(?![\w-])", "<ID>", text)
    return text


def shown_of_a(response, a) -> list[str]:
    """A's data in an answer (links that only repeat the request are left out)."""
    try:
        body = response.json()
    except ValueError:
        body = text_of(response)
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("link", "next", "previous")}
    text = json.dumps(body, ensure_ascii=False) if not isinstance(body, str) else body
    markers = [MARKER, a["patient"].mrn, a["exam"].accession_number, a["exam"].study_instance_uid,
               a["identifier"].value, a["webhook"].url]  # fmt: skip
    return [marker for marker in markers if marker in text]


def snapshot(clinic) -> dict:
    """Every row of A that the API or FHIR could change, field by field."""
    models = (Patient, Surgery, ImagingExam, ClinicalEvent, Assessment, Checkpoint, Alert,
              WebhookEndpoint)  # fmt: skip
    return {
        model.__name__: sorted(
            (json.dumps(model_to_dict(row), default=str, sort_keys=True)
             for row in model.objects.filter(clinic=clinic)),
        )
        for model in models
    }  # fmt: skip


def assert_refused_as_missing(name, method, outsider, a, pk, body=None):
    """B's request on A's object answers as the same request on a missing object."""
    foreign = send(outsider, method, url_for(name, pk), body)
    missing_pk = re.sub(r"\d+", str(MISSING), str(pk))
    missing = send(outsider, method, url_for(name, missing_pk), body)
    where = f"{method.upper()} {url_for(name, pk)}"
    assert foreign.status_code in (404, 403, 405) or (
        method == "options" and foreign.status_code == 200
    ), f"{where}: {foreign.status_code} {text_of(foreign)[:300]}"
    assert foreign.status_code == missing.status_code, where
    assert without_ids(text_of(foreign), pk) == without_ids(text_of(missing), missing_pk), where
    assert shown_of_a(foreign, a) == [], where


@pytest.mark.parametrize("name", sorted(OBJECT_ID))
def test_b_cannot_read_change_or_delete_as_objects(outsider, records_a, clinic_a, name):
    a = records_a
    before = snapshot(clinic_a)
    ids = [OBJECT_ID[name](a)] + ([OTHER_IDS[name](a)] if name in OTHER_IDS else [])
    for pk in ids:
        for method in METHODS:
            body = CHANGES.get(name, {}) if method in ("post", "put", "patch") else None
            assert_refused_as_missing(name, method, outsider, a, pk, body)
    assert snapshot(clinic_a) == before


def is_empty(response) -> bool:
    body = response.json()
    if body.get("resourceType") == "Bundle":
        return not body.get("entry")
    if body.get("resourceType") == "MeasureReport":  # no checkpoint counted
        return not body.get("group")
    if "groups" in body:  # the outcomes report: no surgery counted
        return all(group["surgeries"] == 0 for group in body["groups"])
    return body.get("results") == []


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_b_finds_nothing_of_a_through_lists_and_searches(outsider, records_a, name):
    a = records_a
    for query in QUERIES[name](a):
        url = url_for(name) + (f"?{urlencode(query)}" if query else "")
        response = outsider.api.get(url)
        assert response.status_code in (200, 403), f"{url}: {text_of(response)[:300]}"
        assert shown_of_a(response, a) == [], url
        if response.status_code == 200 and query and name not in OWN_FIGURES:
            assert is_empty(response), f"{url} shows rows: {text_of(response)[:300]}"


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_b_own_rows_are_found_by_the_same_queries(staff_b, records_b, name):
    """The empty lists above are scoping, not broken filters: B's own ids find B's rows."""
    reader = staff_b.api
    if name == "fhir-Subscription-search":  # an integration's own, not staff's
        reader = APIClient()
        token = records_b["fhir_subscription"].subscriber_token
        reader.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for query in QUERIES[name](records_b):
        url = url_for(name) + (f"?{urlencode(query)}" if query else "")
        response = reader.get(url)
        assert response.status_code == 200, f"{url}: {text_of(response)[:300]}"
        assert not is_empty(response), url


@pytest.mark.parametrize("name", sorted(n for n, make in CREATES.items() if make))
def test_b_cannot_create_on_as_objects(outsider, records_a, clinic_a, name):
    a = records_a
    before = snapshot(clinic_a)
    foreign = send(outsider, "post", url_for(name), CREATES[name](a, _pid(a), _sid(a)))
    missing = send(outsider, "post", url_for(name), CREATES[name](a, MISSING, MISSING + 1))
    where = f"POST {url_for(name)}"
    saved_nothing = foreign.status_code == 200 and foreign.json().get("saved") == []
    assert foreign.status_code in (400, 403, 405) or saved_nothing, (
        f"{where}: {foreign.status_code} {text_of(foreign)[:300]}"
    )
    assert foreign.status_code == missing.status_code, where
    assert without_ids(text_of(foreign), _pid(a), _sid(a), a["patient"].clinic.slug) == (
        without_ids(text_of(missing), MISSING, MISSING + 1, "no-such-clinic")
    ), where
    assert shown_of_a(foreign, a) == [], where
    assert snapshot(clinic_a) == before


@pytest.mark.parametrize("name", sorted(set(QUERIES) | set(CREATES)))
def test_lists_take_no_put_patch_or_delete(outsider, records_a, clinic_a, name):
    before = snapshot(clinic_a)
    for method in ("put", "patch", "delete"):
        response = send(outsider, method, url_for(name), {"id": _pid(records_a)})
        assert response.status_code in (403, 404, 405), f"{method} {url_for(name)}"
        assert shown_of_a(response, records_a) == []
    assert snapshot(clinic_a) == before


@pytest.mark.parametrize("name", sorted(STATIC))
def test_static_routes_show_no_clinic_data(outsider, records_a, name):
    response = outsider.api.get(url_for(name, STATIC_ID.get(name)))
    assert response.status_code == 200
    assert shown_of_a(response, records_a) == []
