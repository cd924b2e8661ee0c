"""Schemathesis against /api/schema/: every operation, as an integration client of a
clinic with data (and a second clinic, so that a leak would show), through the WSGI
application (no network). No answer is a 5xx; every answer conforms to the schema (body,
content type, headers); an error is a JSON object; a request without the token is a 401.

The run in the suite is bounded and the same every time (derandomized, no coverage
phase: about 20 s). docs/security.md says how to run a longer, random one:
SCHEMATHESIS_MAX_EXAMPLES=200 SCHEMATHESIS_COVERAGE=1.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
)

from followup.wsgi import application

from .conftest import clinic_records, integration

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "0")) or None
COVERAGE = os.environ.get("SCHEMATHESIS_COVERAGE") == "1"
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": COVERAGE}}})


def errors_are_json_objects(ctx, response, case) -> None:
    """The error shape of the contract: a 4xx is a JSON object (`detail` or the fields).

    Except Django's own 404 page for a path that no route takes (`/api/v1/alerts/0.5/`:
    the router's ids have no dot), which never reaches the API's views.
    """
    path = urlsplit(response.request.url).path
    if response.status_code == 404 and not routed(path):
        return
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/json"), (
            f"{response.status_code} answered as {content_type}"
        )
        assert isinstance(response.json(), dict), f"{response.status_code}: {response.content}"


def routed(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
    ignored_auth,
    errors_are_json_objects,
]

# Which of clinic A's rows a `{id}` in each collection names, so that detail routes and
# their actions are exercised on real rows and not only on ids that do not exist.
ROW_OF_COLLECTION = {
    "alerts": "alert",
    "assessments": "assessment",
    "checkpoints": "checkpoint",
    "clinical-events": "event",
    "exams": "exam",
    "patients": "patient",
    "subscriptions": "subscription",
    "surgeries": "surgery",
    "webhooks": "webhook",
}


@pytest.fixture
def wsgi_in_test_transaction():
    """Django's handler closes "old" connections around each request, which would end the
    test's transaction; the test client disconnects that too."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def scene(wsgi_in_test_transaction, clinic_a, staff_a, clinic_b, staff_b):
    """Clinic A with one row of each kind (and clinic B, so that leaks would show)."""
    clinic_records(clinic_b, staff_b.user, tag="B")
    return {"records": clinic_records(clinic_a, staff_a.user, tag="A"),
            "persona": integration(clinic_a, "Schemathesis of A")}  # fmt: skip


@pytest.fixture
def api_schema(scene, request):
    # schemathesis 4 renames the test node through `_nodeid`, which pytest 9 no longer has.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
    loaded = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=CONFIG)
    records = scene["records"]

    @loaded.hook
    def flatmap_path_parameters(context, path_parameters):
        collection = context.operation.path.removeprefix("/api/v1/").split("/")[0]
        if "id" not in (path_parameters or {}) or collection not in ROW_OF_COLLECTION:
            return st.just(path_parameters)
        real = {**path_parameters, "id": records[ROW_OF_COLLECTION[collection]].pk}
        return st.sampled_from([real, path_parameters])

    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES or 8,
    derandomize=MAX_EXAMPLES is None,  # the suite's run: the same cases every time
    # A longer run keeps its failing examples under var/ (ignored by git) to replay them.
    database=None
    if MAX_EXAMPLES is None
    else DirectoryBasedExampleDatabase(Path(django_settings.VAR_DIR) / "hypothesis"),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, scene):
    token = scene["persona"].token
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
