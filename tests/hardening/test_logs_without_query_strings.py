"""Searches carry names and MRNs in their query strings (?mrn=, ?family_name=, FHIR's
identifier=, the admin's ?q=): neither gunicorn's access log nor the app's own logs
(the request log of patients/base/middleware.py, Django's warnings) may write them."""

import logging

import pytest
import requests
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from followup.ops.serving import Gunicorn
from patients.models import ApiClient, ApiRequest, Clinic
from tests import factories

NAME = "Quenneville"
MRN = "MRN-77341"
SEARCHES = [
    f"/api/v1/patients/?family_name={NAME}&mrn={MRN}",
    f"/fhir/r4/Patient?identifier={MRN}&family={NAME}",
    f"/admin/patients/patient/?q={NAME}",
    f"/healthz?family_name={NAME}",
    f"/api/v1/nowhere/?mrn={MRN}",  # a 404
]


@pytest.mark.django_db(transaction=True)
def test_gunicorn_logs_the_path_and_never_the_query_string(tmp_path):
    clinic = Clinic.objects.create(slug="logs", name="Logs", timezone="Europe/Paris")
    factories.patient(clinic, mrn=MRN, family_name=NAME)
    _, token = ApiClient.issue(clinic, "EHR", scopes=["read", "fhir"])
    log = tmp_path / "access.log"
    with Gunicorn(workers=1, threads=1, access_log=log) as server:
        for url in SEARCHES:
            requests.get(
                server.url + url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ).close()
    written = log.read_text()
    assert "/api/v1/patients/" in written and "/fhir/r4/Patient" in written
    assert written.count("\n") >= len(SEARCHES)
    assert NAME not in written and MRN not in written and "?" not in written


@pytest.mark.django_db
def test_the_apps_own_logs_carry_no_query_string(caplog, clinic_a, integration_a):
    caplog.set_level(logging.DEBUG)
    factories.patient(clinic_a, mrn=MRN, family_name=NAME)
    staff = get_user_model().objects.create_superuser("root", password="a-long-password-1")
    browser = APIClient()
    browser.force_login(staff)
    for url in SEARCHES:
        integration_a.api.get(url)
        browser.get(url)
    assert NAME not in caplog.text and MRN not in caplog.text
    endpoints = list(ApiRequest.objects.values_list("endpoint", flat=True))
    assert endpoints, "the integration's requests are logged"
    assert not [e for e in endpoints if "?" in e or NAME in e or MRN in e]
