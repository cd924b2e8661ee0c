"""Every request of an integration is logged: client, method, route, status, duration; no
body, no query string, no id in the endpoint."""

from django.db import connection

from patients.models import ApiRequest, Patient, Scope
from tests.api import post
from tests.conftest import persona_with

NAME = {"family_name": "Quillfeather", "given_name": "Ottoline"}


def log_table_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(t)::text FROM patients_apirequest t")
        return "\n".join(row[0] for row in cursor.fetchall())


def test_every_request_is_logged_by_route_without_bodies_or_ids(integration_a, clinic_a):
    api = integration_a.api
    created = post(integration_a, "/api/v1/patients/", {"mrn": "LOG-77123", **NAME})
    pk = created.json()["id"]
    other = post(integration_a, "/api/v1/patients/", {"mrn": "LOG-77124", **NAME}).json()["id"]
    answers = [
        created,
        api.get(f"/api/v1/patients/{pk}/"),
        api.get(f"/api/v1/patients/{other}/"),
        api.patch(f"/api/v1/patients/{pk}/", {"given_name": "Ottilie"}, format="json"),
        api.get("/api/v1/patients/?family_name=Quillfeather"),
        post(integration_a, "/api/v1/patients/", {"mrn": "", "family_name": "Quillfeather"}),
        api.get("/api/v1/patients/999999999/"),
        api.get(f"/api/v1/patients/{pk}/timeline/"),
    ]

    rows = list(ApiRequest.objects.filter(client=integration_a.client).order_by("id"))
    assert len(rows) == len(answers) + 1  # and the second POST
    del rows[1]
    assert [(r.method, r.status) for r in rows] == [
        (a.wsgi_request.method, a.status_code) for a in answers
    ]
    assert [r.status for r in rows] == [201, 200, 200, 200, 200, 400, 404, 200]
    detail = {r.endpoint for r in rows[1:3]} | {rows[3].endpoint, rows[6].endpoint}
    assert len(detail) == 1  # one route pattern for every patient
    for row in rows:
        assert row.endpoint.startswith("/api/v1/")
        assert "family_name=" not in row.endpoint and "Quillfeather" not in row.endpoint
        assert not {str(pk), str(other), "999999999"} & set(row.endpoint.split("/"))
        assert row.duration_ms >= 0 and row.at is not None
    text = log_table_text()
    for secret in ("Quillfeather", "Ottoline", "Ottilie", "LOG-77123", "77123", "999999999"):
        assert secret not in text
    assert Patient.objects.filter(family_name="Quillfeather").count() == 2


def test_the_log_keeps_no_body_column():
    names = {f.name for f in ApiRequest._meta.get_fields()}
    assert names == {"id", "client", "method", "endpoint", "status", "duration_ms", "at"}


def test_refused_and_fhir_requests_are_logged_too(clinic_a):
    reader = persona_with(clinic_a, "Reader", [Scope.READ])

    post(reader, "/api/v1/patients/", {"mrn": "NO", **NAME})
    reader.api.get("/fhir/r4/Patient")

    rows = ApiRequest.objects.filter(client=reader.client).order_by("id")
    assert [(r.method, r.status) for r in rows] == [("POST", 403), ("GET", 403)]
    assert rows[1].endpoint.startswith("/fhir/r4/")
    assert "Quillfeather" not in log_table_text()


def test_staff_sessions_and_unknown_tokens_are_not_client_requests(staff_a, anonymous):
    staff_a.api.get("/api/v1/patients/")
    anonymous.api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert anonymous.api.get("/api/v1/patients/").status_code == 401

    assert not ApiRequest.objects.exists()
