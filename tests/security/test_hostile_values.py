"""Hostile values: a body over the size limit, deep nesting, bytes that are not UTF-8,
SQL and HTML in text fields, times at the edges. Each is a clean 4xx (JSON, naming the
field where there is one) or is accepted and kept exactly: never a 500."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from followup.delivery import mailing
from followup.models import Alert, Severity, Subscription
from imaging.models import ImagingExam
from patients.models import Patient, Surgery

PATIENTS = "/api/v1/patients/"
SURGERIES = "/api/v1/surgeries/"
EXAMS = "/api/v1/exams/"
FHIR = "application/fhir+json"

SQL = "x'); DROP TABLE patients_patient; -- ' OR '1'='1"
SCRIPT = '<script>alert("xss")</script>'
IMG = "<img src=x onerror=alert(1)>"
HOSTILE = f"{SQL} {SCRIPT} {IMG} &amp; \"quoted\" 'single'"
HOSTILE_MRN = "<b>M'1\";--</b>"  # within the MRN's 64 characters
NESTED_40 = json.loads("[" * 40 + "]" * 40)
NUL_NESTED = b'{"mrn": "E-1", "family_name": "x", "external_ids": [{"system": "s\\u0000"}]}'
ESCAPED = "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;"


def json_post(persona, url, body: str | bytes, content_type="application/json", **headers):
    return persona.api.generic("POST", url, body, content_type=content_type, **headers)


def is_json(response) -> bool:
    return response["Content-Type"].split(";")[0] in ("application/json", FHIR)


def counts() -> tuple[int, int, int]:
    return Patient.objects.count(), Surgery.objects.count(), ImagingExam.objects.count()


# --- size ------------------------------------------------------------------------------


def _big_patient() -> str:
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024
    return json.dumps({"mrn": "BIG-1", "family_name": "x" * size})


def _big_bulk() -> str:
    record = {"mrn": "BIG", "family_name": "y" * 10_000}
    n = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 10_000 + 10
    return json.dumps({"records": [dict(record, mrn=f"BIG-{i}") for i in range(n)]})


def _big_bundle() -> str:
    patient = {"resourceType": "Patient", "name": [{"family": "z" * 1_000_000}]}
    entries = [{"resource": patient, "request": {"method": "POST", "url": "Patient"}}] * 6
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


@pytest.mark.parametrize(
    ("method", "url", "body", "content_type"),
    [
        ("POST", PATIENTS, _big_patient, "application/json"),
        ("POST", PATIENTS + "bulk/", _big_bulk, "application/json"),
        ("POST", EXAMS + "bulk/", _big_bulk, "application/json"),
        ("PATCH", PATIENTS + "{id}/", _big_patient, "application/json"),
        ("POST", "/fhir/r4/", _big_bundle, FHIR),
    ],
)
@pytest.mark.parametrize("key", [None, "big-1"])
def test_a_body_over_the_limit_is_a_413_in_json(
    integration_a, records_a, method, url, body, content_type, key
):
    data = body()
    assert len(data) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    before = counts()
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = integration_a.api.generic(
        method, url.format(id=records_a["patient"].pk), data, content_type=content_type, **headers
    )
    assert response.status_code == 413, response.content[:300]
    assert is_json(response)
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in response.content.decode()
    assert counts() == before


def test_a_body_under_the_limit_is_read(integration_a):
    """The limit is the setting's: a large body below it is validated, not refused."""
    data = json.dumps({"mrn": "BIG-2", "family_name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE
                                                               - 1024)})  # fmt: skip
    response = json_post(integration_a, PATIENTS, data)
    assert response.status_code == 400
    assert "family_name" in response.json()


# --- nesting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"records": ' + "[" * 500 + "]" * 500 + "}",
        json.dumps({"mrn": "N-1", "family_name": "N", "transitional_variant": NESTED_40}),
    ],
    ids=["arrays-100k", "objects-50k", "records-500", "value-40"],
)
@pytest.mark.parametrize(
    ("url", "content_type"),
    [(PATIENTS, "application/json"), (EXAMS + "bulk/", "application/json"), ("/fhir/r4/", FHIR)],
)
def test_deeply_nested_json_is_a_400(integration_a, body, url, content_type):
    before = counts()
    response = json_post(integration_a, url, body, content_type, HTTP_IDEMPOTENCY_KEY="deep")
    assert response.status_code == 400, response.content[:300]
    assert is_json(response)
    assert counts() == before


# --- encodings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"mrn": "E-1", "family_name": "Müller"}'.encode("latin-1"), "application/json"),
        ('{"mrn": "E-1", "family_name": "Müller"}'.encode("utf-16"), "application/json"),
        (b'{"mrn": "E-1", "family_name": "\xc3\x28"}', "application/json"),
        (b'{"mrn": "E-1", "family_name": "\xed\xa0\x80"}', "application/json"),  # a surrogate
        (b'{"mrn": "E-1", "family_name": "x"}', "application/json; charset=bz2_codec"),
        (b'{"mrn": "E-1", "family_name": "\\udc00"}', "application/json"),  # a lone surrogate
        (b'{"mrn": "E-1", "family_name": "a\\u0000b"}', "application/json"),  # NUL
        (b'{"mrn": "E-1", "family_name": "x", "a\\u0000": 1}', "application/json"),
        (NUL_NESTED, "application/json"),
        (b"mrn=E-1&family_name=a%00b", "application/x-www-form-urlencoded"),
        (b'{"mrn": NaN, "family_name": Infinity}', "application/json"),
    ],
    ids=[
        "latin-1",
        "utf-16",
        "bad-continuation",
        "utf8-surrogate",
        "bz2-charset",
        "lone-surrogate-escape",
        "nul-value",
        "nul-key",
        "nul-nested",
        "nul-form",
        "nan",
    ],
)
def test_bodies_that_are_not_utf8_text_are_a_400(integration_a, body, content_type):
    before = counts()
    response = json_post(integration_a, PATIENTS, body, content_type)
    assert response.status_code == 400, response.content[:300]
    assert is_json(response)
    assert counts() == before


def test_an_unknown_charset_is_ignored_and_the_body_read_as_utf8(integration_a):
    """Django ignores a charset it does not know (the body is read as UTF-8)."""
    body = '{"mrn": "E-2", "family_name": "Müller"}'.encode()
    response = json_post(integration_a, PATIENTS, body, "application/json; charset=no-such")
    assert response.status_code == 201, response.content[:300]
    assert response.json()["family_name"] == "Müller"


@pytest.mark.parametrize(
    "body",
    [b'{"resourceType": "Bundle", "type": "transaction", "entry": [], "x": "\xff"}',
     b'{"resourceType": "Bundle", "type": "transaction\\u0000", "entry": []}',
     b'{"resourceType": "Bundle", "type": "transaction", "entry": [], "x": "\\ud800"}'],
    ids=["latin-1", "nul", "lone-surrogate"],
)  # fmt: skip
def test_a_fhir_bundle_that_is_not_utf8_text_is_a_400(integration_a, body):
    response = json_post(integration_a, "/fhir/r4/", body, FHIR)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "url",
    ["/api/v1/patients/?mrn=a%00b", "/api/v1/patients/?identifier=s%7Ca%00",
     "/api/v1/exams/?accession_number=%00", "/fhir/r4/Patient?identifier=a%00b",
     "/fhir/r4/Procedure?patient=1%00", "/fhir/r4/Patient?_cursor=%00",
     "/api/v1/exams/?patient=%C2%B2", "/fhir/r4/Patient/%C2%B2", "/fhir/r4/Flag/%00",
     "/api/v1/patients/?" + "&".join(f"f{i}=1" for i in range(1200))],
    ids=["mrn-nul", "identifier-nul", "accession-nul", "fhir-identifier-nul", "fhir-patient-nul",
         "fhir-cursor-nul", "superscript-two", "fhir-read-superscript", "fhir-read-nul",
         "too-many-fields"],
)  # fmt: skip
def test_hostile_query_strings_and_ids_are_4xx(integration_a, records_a, url):
    response = integration_a.api.get(url)
    assert 400 <= response.status_code < 500, response.content[:300]
    assert is_json(response)


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (PATIENTS, {"mrn": "X", "family_name": "X", "external_ids": 5}),
        (PATIENTS, {"mrn": "X", "family_name": "X",
                    "external_ids": [{"system": ["a"], "value": {"b": 1}}]}),
        (PATIENTS + "bulk/", {"records": [{"mrn": "X", "external_ids": 5}]}),
        (EXAMS, {"patient": "²", "accession_number": "A"}),
        (EXAMS, {"patient": "{patient}", "accession_number": ["A"], "study_instance_uid": {}}),
        (EXAMS + "bulk/", {"records": [{"patient": "{patient}", "accession_number": []}]}),
        (EXAMS + "bulk/", {"records": [{"patient": "{patient}", "study_instance_uid": {}}]}),
        (EXAMS + "bulk/", {"records": [{"patient": "²", "accession_number": "A"}]}),
        (SURGERIES + "bulk/", {"records": [{"patient": "²"}, 5, None, []]}),
    ],
    ids=["ids-not-a-list", "ids-not-strings", "bulk-ids-not-a-list", "superscript-patient",
         "keys-not-strings", "bulk-accession-list", "bulk-uid-object", "bulk-superscript",
         "bulk-odd-records"],
)  # fmt: skip
def test_values_of_the_wrong_type_are_refused_by_field(integration_a, records_a, url, body):
    """The upsert's natural-key lookups read the raw body: odd types must not reach SQL."""
    text = json.dumps(body).replace('"{patient}"', str(records_a["patient"].pk))
    before = counts()
    response = json_post(integration_a, url, text)
    assert response.status_code in (200, 400), response.content[:300]
    body = response.json()
    assert body.get("saved", []) == []
    assert counts() == before


# --- SQL and HTML in text --------------------------------------------------------------


@pytest.fixture
def hostile(integration_a, clinic_a):
    """A patient, surgery and exam posted through the API with hostile text everywhere."""
    patient = integration_a.api.post(PATIENTS, {
        "mrn": HOSTILE_MRN, "family_name": HOSTILE, "given_name": SCRIPT,
        "transitional_variant": HOSTILE, "vertebral_numbering": IMG,
        "external_ids": [{"system": SQL, "value": SCRIPT}],
    }, format="json")  # fmt: skip
    assert patient.status_code == 201, patient.content
    pid = patient.json()["id"]
    performed = (timezone.now() - timedelta(days=100)).isoformat()
    surgery = integration_a.api.post(SURGERIES, {
        "patient": pid, "performed_at": performed, "procedure": "tlif", "levels": ["L4-L5"],
        "surgeon": SCRIPT, "notes": HOSTILE,
    }, format="json")  # fmt: skip
    assert surgery.status_code == 201, surgery.content
    exam = integration_a.api.post(EXAMS, {
        "patient": pid, "modality": "XR", "performed_at": timezone.now().isoformat(),
        "accession_number": HOSTILE_MRN, "report": HOSTILE,
    }, format="json")  # fmt: skip
    assert exam.status_code == 201, exam.content
    patient_row = Patient.objects.get(pk=pid)
    surgery_row = Surgery.objects.get(pk=surgery.json()["id"])
    alert = Alert.objects.create(
        clinic=clinic_a, patient=patient_row, surgery=surgery_row, code="screw_loosening",
        subject="hostile", severity=Severity.URGENT, message=HOSTILE,
    )  # fmt: skip
    return {"patient": patient.json(), "surgery": surgery.json(), "exam": exam.json(),
            "alert": alert, "patient_row": patient_row}  # fmt: skip


def test_sql_and_html_are_stored_and_answered_verbatim(integration_a, hostile):
    pid = hostile["patient"]["id"]
    patient = integration_a.api.get(f"{PATIENTS}{pid}/").json()
    assert (patient["mrn"], patient["family_name"], patient["given_name"]) == (
        HOSTILE_MRN,
        HOSTILE,
        SCRIPT,
    )
    assert patient["transitional_variant"] == HOSTILE
    assert patient["external_ids"] == [{"system": SQL, "value": SCRIPT}]
    surgery = integration_a.api.get(f"{SURGERIES}{hostile['surgery']['id']}/").json()
    assert (surgery["surgeon"], surgery["notes"]) == (SCRIPT, HOSTILE)
    exam = integration_a.api.get(f"{EXAMS}{hostile['exam']['id']}/").json()
    assert (exam["accession_number"], exam["report"]) == (HOSTILE_MRN, HOSTILE)
    assert Patient.objects.count() == 1  # the DROP TABLE stayed text


def test_sql_in_filters_is_a_value_not_a_query(integration_a, hostile):
    pid = hostile["patient"]["id"]
    found = integration_a.api.get(PATIENTS, {"family_name": HOSTILE}).json()["results"]
    assert [row["id"] for row in found] == [pid]
    found = integration_a.api.get(PATIENTS, {"mrn": HOSTILE_MRN}).json()["results"]
    assert [row["id"] for row in found] == [pid]
    for value in ("' OR '1'='1", "x' OR 1=1 --", "%", "_"):
        assert integration_a.api.get(PATIENTS, {"mrn": value}).json()["results"] == []
    found = integration_a.api.get(PATIENTS, {"identifier": f"{SQL}|{SCRIPT}"}).json()
    assert [row["id"] for row in found["results"]] == [pid]
    found = integration_a.api.get(EXAMS, {"accession_number": HOSTILE_MRN}).json()["results"]
    assert [row["id"] for row in found] == [hostile["exam"]["id"]]
    fhir = integration_a.api.get("/fhir/r4/Patient", {"identifier": f"{SQL}|{SCRIPT}"}).json()
    assert [entry["resource"]["id"] for entry in fhir["entry"]] == [str(pid)]


def assert_escaped(page: str) -> None:
    assert SCRIPT not in page
    assert IMG not in page
    assert "<b>M'1" not in page
    assert ESCAPED in page or "&lt;script&gt;" in page  # shown, escaped


@pytest.mark.parametrize(
    "url",
    ["/admin/patients/patient/{patient}/change/", "/admin/", "/admin/followup/alert/",
     "/admin/followup/alert/{alert}/change/", "/admin/patients/patient/",
     "/admin/patients/surgery/{surgery}/change/", "/admin/imaging/imagingexam/{exam}/change/"],
    ids=["patient-page", "worklist", "alert-list", "alert-page", "patient-list", "surgery-page",
         "exam-page"],
)  # fmt: skip
def test_the_admin_escapes_hostile_text(staff_a, hostile, url):
    page = staff_a.api.get(url.format(
        patient=hostile["patient"]["id"], alert=hostile["alert"].pk,
        surgery=hostile["surgery"]["id"], exam=hostile["exam"]["id"],
    ))  # fmt: skip
    assert page.status_code == 200
    assert_escaped(page.content.decode())


def _sent(clinic, staff, now) -> list:
    staff.user.email = "alice@example.org"
    staff.user.save(update_fields=["email"])
    Subscription.objects.create(user=staff.user, clinic=clinic)
    mailing.queue_urgent(now)
    mailing.queue_digests(now)
    assert mailing.deliver(now) == len(mail.outbox)
    return mail.outbox


def test_e_mails_escape_hostile_text_in_html_and_keep_it_in_text(clinic_a, staff_a, hostile):
    clinic_a.digest_hour = 0  # the digest is due whatever the hour
    clinic_a.save(update_fields=["digest_hour"])
    messages = _sent(clinic_a, staff_a, timezone.now())
    subjects = sorted(m.subject for m in messages)
    assert len(subjects) == 2 and "digest" in subjects[0] and "URGENT" in subjects[1], subjects
    for message in messages:
        html = message.alternatives[0].content
        assert_escaped(html)
        assert HOSTILE in message.body  # the text part says it as it is (not HTML)
        assert "\n" not in message.subject and "\r" not in message.subject


def test_an_mrn_with_a_line_break_does_not_stop_urgent_notices(integration_a, clinic_a, staff_a):
    patient = integration_a.api.post(PATIENTS, {
        "mrn": "X1\r\nBcc: evil@example.org", "family_name": "Line",
    }, format="json").json()  # fmt: skip
    row = Patient.objects.get(pk=patient["id"])
    surgery = Surgery.objects.create(patient=row, performed_at=timezone.now() - timedelta(30),
                                     procedure="tlif")  # fmt: skip
    Alert.objects.create(clinic=clinic_a, patient=row, surgery=surgery, code="screw_loosening",
                         subject="s", severity=Severity.URGENT, message="m")  # fmt: skip
    messages = [m for m in _sent(clinic_a, staff_a, timezone.now()) if "URGENT" in m.subject]
    assert len(messages) == 1
    assert messages[0].recipients() == ["alice@example.org"]
    assert "X1 Bcc: evil@example.org" in messages[0].subject


# --- times at the edges ----------------------------------------------------------------

OUT_OF_RANGE = "Datetime value out of range."
EDGES = [
    # (value sent, stored in UTC or the error on the field)
    ("0001-01-01", OUT_OF_RANGE),
    ("0001-01-01T00:00:00", OUT_OF_RANGE),
    ("0001-01-01T00:00:00+14:00", OUT_OF_RANGE),
    ("0001-01-02T00:00:00+14:00", "0001-01-01T10:00:00Z"),
    ("0001-01-01T00:00:00-12:00", "0001-01-01T12:00:00Z"),
    ("9999-12-31", OUT_OF_RANGE),
    ("9999-12-31T23:59:59-12:00", OUT_OF_RANGE),
    ("9999-12-31T23:59:59+14:00", "Must not be in the future."),
    ("2025-03-30T02:30:00", "2025-03-30T01:30:00Z"),  # Paris: a time the DST change skips
    ("2025-10-26T02:30:00", "2025-10-26T00:30:00Z"),  # Paris: twice that night, the first
    ("2025-06-01T10:00:00+14:00", "2025-05-31T20:00:00Z"),
    ("2025-06-01T10:00:00-12:00", "2025-06-01T22:00:00Z"),
    ("2025-06-01T10:00:00-17:06", "2025-06-02T03:06:00Z"),  # beyond PostgreSQL's offsets
    ("2025-06-01T10:00:00+23:59", "2025-05-31T10:01:00Z"),
    ("2025-06-01", "2025-05-31T22:00:00Z"),  # a date alone: that day in Paris
    ("2025-02-29", "Datetime has wrong format"),
    ("2025-06-01T24:00:00", "Datetime has wrong format"),
    ("2025-13-01T10:00:00Z", "Datetime has wrong format"),
    ("+12025-06-01", "Datetime has wrong format"),
]


def _body(url, patient, value):
    if url == SURGERIES:
        return {"patient": patient.pk, "performed_at": value, "procedure": "tlif"}
    if url == EXAMS:
        return {"patient": patient.pk, "performed_at": value, "modality": "XR",
                "accession_number": f"EDGE-{value}"}  # fmt: skip
    if url == "/api/v1/clinical-events/":
        return {"patient": patient.pk, "occurred_at": value, "code": "new_radicular_pain"}
    return {"patient": patient.pk, "assessed_at": value, "nrs_back": 3}


FIELD = {
    SURGERIES: "performed_at",
    EXAMS: "performed_at",
    "/api/v1/clinical-events/": "occurred_at",
    "/api/v1/assessments/": "assessed_at",
}


@pytest.mark.parametrize(("value", "expected"), EDGES, ids=[v for v, _ in EDGES])
@pytest.mark.parametrize("url", [SURGERIES, EXAMS])
def test_times_at_the_edges_are_stored_right_or_refused_by_name(
    integration_a, records_a, url, value, expected
):
    response = integration_a.api.post(url, _body(url, records_a["patient"], value), format="json")
    field = FIELD[url]
    if expected.endswith("Z"):
        assert response.status_code == 201, response.content
        assert response.json()[field] == expected
        stored = response.json()["id"]
        again = integration_a.api.get(f"{url}{stored}/")
        assert again.status_code == 200 and again.json()[field] == expected
    else:
        assert response.status_code == 400, response.content
        assert expected in " ".join(response.json()[field])


def _yesterday_at(offset: str) -> str:
    return (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S") + offset


@pytest.mark.parametrize(
    ("value", "status"),
    [("0001-01-01T00:00:00+14:00", 400), ("9999-12-31", 400), ("2025-02-29", 400),
     (_yesterday_at("-17:06"), 201), (_yesterday_at("+14:00"), 201)],
)  # fmt: skip
@pytest.mark.parametrize("url", ["/api/v1/clinical-events/", "/api/v1/assessments/"])
def test_events_and_assessments_times_at_the_edges(integration_a, records_a, url, value, status):
    response = integration_a.api.post(url, _body(url, records_a["patient"], value), format="json")
    assert response.status_code == status, response.content
    if status == 400:
        assert FIELD[url] in response.json()
    else:
        expected = datetime.fromisoformat(value).astimezone(UTC)
        assert datetime.fromisoformat(response.json()[FIELD[url]]) == expected


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "2025-02-29"]
)
def test_a_patch_at_the_edges_is_refused_by_name(integration_a, records_a, value):
    url = f"{SURGERIES}{records_a['surgery'].pk}/"
    response = integration_a.api.patch(url, {"performed_at": value}, format="json")
    assert response.status_code == 400, response.content
    assert "performed_at" in response.json()


@pytest.mark.parametrize(
    ("url", "field", "value", "status"),
    [
        (EXAMS, "performed_before", "2025-06-01T10:00:00-17:06", 200),
        (EXAMS, "performed_after", "0001-01-01T00:00:00+14:00", 400),
        (EXAMS, "performed_after", "9999-12-31T23:59:59-12:00", 400),
        (EXAMS, "performed_after", "0001-01-01", 200),
        ("/api/v1/checkpoints/", "due_before", "2025-06-01T10:00:00+23:59", 200),
        ("/api/v1/checkpoints/", "due_after", "9999-12-31T23:59:59-12:00", 400),
    ],
)
def test_time_filters_at_the_edges(integration_a, records_a, url, field, value, status):
    response = integration_a.api.get(url, {field: value})
    assert response.status_code == status, response.content
    if status == 400:
        assert field in response.json()


@pytest.mark.parametrize(
    ("until", "status"),
    [("9999-12-31T23:59:59-12:00", 400), ("0001-01-01T00:00:00+14:00", 400),
     ("2100-01-01T00:00:00-17:06", 200), ("2100-02-30T00:00:00Z", 400)],
)  # fmt: skip
def test_snoozing_until_the_edges(integration_a, records_a, until, status):
    url = f"/api/v1/alerts/{records_a['alert'].pk}/snooze/"
    response = integration_a.api.post(url, {"until": until}, format="json")
    assert response.status_code == status, response.content
    if status == 400:
        assert "until" in response.json()
    else:
        snoozed = datetime.fromisoformat(response.json()["snoozed_until"])
        assert snoozed == datetime(2100, 1, 1, 17, 6, tzinfo=UTC)
