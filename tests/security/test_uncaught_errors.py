"""An error no view catches answers in the shape of its interface: JSON under /api/, an
OperationOutcome under /fhir/, Django's page in the admin; never the error's text.

Before: Django's HTML 500 page under /api/ and /fhir/ too."""

import pytest
from django.test import Client

from followup.fhir import views as fhir_views
from patients.api import views as patient_views
from patients.base.api.errors import SERVER_ERROR

SECRET = "row (Quenneville, MRN-77341) violates something"


def boom(*args, **kwargs):
    raise RuntimeError(SECRET)


@pytest.fixture
def browser(integration_a):
    client = Client(raise_request_exception=False)
    client.defaults["HTTP_AUTHORIZATION"] = integration_a.api._credentials["HTTP_AUTHORIZATION"]
    return client


def test_an_uncaught_api_error_is_a_json_500_saying_nothing_of_it(browser, monkeypatch):
    monkeypatch.setattr(patient_views.PatientViewSet, "list", boom)
    response = browser.get("/api/v1/patients/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": SERVER_ERROR}
    assert "Quenneville" not in response.content.decode()


def test_an_uncaught_fhir_error_is_an_operation_outcome(browser, monkeypatch):
    monkeypatch.setattr(fhir_views.PatientViewSet, "list", boom)
    response = browser.get("/fhir/r4/Patient")
    assert response.status_code == 500
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "exception"
    assert "Quenneville" not in response.content.decode()


@pytest.mark.django_db
def test_an_uncaught_admin_error_is_still_djangos_page(monkeypatch, staff_a):
    from patients.admin import records as patients_admin

    monkeypatch.setattr(patients_admin.PatientAdmin, "get_queryset", boom)
    browser = Client(raise_request_exception=False)
    browser.force_login(staff_a.user)
    response = browser.get("/admin/patients/patient/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert "Quenneville" not in response.content.decode()
