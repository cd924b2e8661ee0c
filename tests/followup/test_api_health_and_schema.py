"""/healthz reports the database and Redis; /api/schema/ documents the contract's endpoints."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

CONTRACT_PATHS = [
    "/api/v1/patients/",
    "/api/v1/patients/{id}/",
    "/api/v1/surgeries/",
    "/api/v1/surgeries/{id}/",
    "/api/v1/exams/",
    "/api/v1/exams/{id}/",
]


@pytest.fixture
def schema(db) -> dict:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_healthz_reports_database_and_redis_up(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] is True
    assert body["redis"] is True


def test_healthz_answers_503_when_redis_is_unreachable(db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["redis"] is False


@pytest.mark.parametrize("path", CONTRACT_PATHS)
def test_schema_documents_the_contract_paths(schema, path):
    assert path in schema["paths"]


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/exams/", {"get", "post"}),
        ("/api/v1/exams/{id}/", {"get", "patch"}),
    ],
)
def test_schema_lists_the_methods_of_the_contract(schema, path, methods):
    assert methods <= set(schema["paths"][path])
    assert "put" not in schema["paths"][path]
    assert "delete" not in schema["paths"][path]


def test_schema_documents_the_bearer_token(schema):
    schemes = schema["components"]["securitySchemes"].values()
    assert {"type": "http", "scheme": "bearer"} in [
        {key: scheme.get(key) for key in ("type", "scheme")} for scheme in schemes
    ]


def test_schema_exam_documents_the_findings_fields(schema):
    finding = schema["components"]["schemas"]["FindingRequest"]["properties"]
    assert {"code", "value", "level", "side"} <= set(finding)


def test_schema_generates_without_warnings(db):
    """drf-spectacular's warnings are holes in what integrators read; fail on any."""
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=StringIO())
