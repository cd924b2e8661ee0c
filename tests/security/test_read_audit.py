"""Every read of patient data is audited with who read it: the API (tests/hardening),
FHIR and the admin here; the audit is seen by superusers only and kept a set time."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver, resolve
from django.utils import timezone

from followup.models import Alert, Severity
from followup.pipeline import sweep
from patients.base.api import read_audit
from patients.models import RecordRead, Role
from tests import factories
from tests.conftest import make_staff

# --- FHIR ----------------------------------------------------------------------------------


# Each FHIR read and search (by route name), as clinic A's integration sends it.
FHIR_READS = {
    "fhir-Patient": "/fhir/r4/Patient/{patient}",
    "fhir-Patient-search": "/fhir/r4/Patient?identifier={mrn}",
    "fhir-Procedure": "/fhir/r4/Procedure/{surgery}",
    "fhir-Procedure-search": "/fhir/r4/Procedure?patient={patient}",
    "fhir-ImagingStudy": "/fhir/r4/ImagingStudy/{exam}",
    "fhir-ImagingStudy-search": "/fhir/r4/ImagingStudy?patient={patient}",
    "fhir-DiagnosticReport": "/fhir/r4/DiagnosticReport/{exam}",
    "fhir-DiagnosticReport-search": "/fhir/r4/DiagnosticReport?patient={patient}",
    "fhir-CarePlan": "/fhir/r4/CarePlan/{surgery}",
    "fhir-CarePlan-search": "/fhir/r4/CarePlan?patient={patient}",
    "fhir-Flag": "/fhir/r4/Flag/{alert}",
    "fhir-Flag-search": "/fhir/r4/Flag?patient={patient}",
    "fhir-observation": "/fhir/r4/Observation/finding-{finding}",
    "fhir-observation-search": "/fhir/r4/Observation?patient={patient}",
}
# Routes under /fhir/r4/ that show no patient's record.
# Not patient records: the import, the statements, an integration's own subscriptions,
# the subscription topics, the Measure and its evaluation (a clinic's aggregates, audited
# with no patient like the REST report: tests/followup/fhir/test_fhir_measure_report.py).
NOT_PATIENT_DATA = {"fhir-transaction", "fhir-metadata", "fhir-smart-configuration",
                    "fhir-Subscription", "fhir-Subscription-search",
                    "fhir-Subscription-status", "fhir-Basic",
                    "fhir-Basic-search", "fhir-Measure",
                    "fhir-Measure-evaluate-measure"}  # fmt: skip


def url_of(page: str, records: dict) -> str:
    return page.format(mrn=records["patient"].mrn, **{k: row.pk for k, row in records.items()})


def fhir_route_names() -> set[str]:
    fhir = next(p for p in get_resolver().url_patterns if "fhir" in str(p.pattern))
    return {p.name for p in fhir.url_patterns if p.name} - NOT_PATIENT_DATA


def test_the_table_knows_every_fhir_read_route():
    """A new FHIR route fails here until its read is added to FHIR_READS (and audited)."""
    assert fhir_route_names() == set(FHIR_READS)


@pytest.mark.parametrize("route", sorted(fhir_route_names()))
def test_every_fhir_read_is_audited_with_the_client(full_integration_a, records_a, route):
    url = url_of(FHIR_READS[route], records_a)
    response = full_integration_a.api.get(url)
    assert response.status_code == 200, response.content

    (read,) = RecordRead.objects.all()
    assert (read.client, read.user) == (full_integration_a.client, None)
    assert read.patient_ids == [records_a["patient"].pk]
    assert read.clinic == full_integration_a.clinic
    assert read.endpoint == "/" + resolve(url.split("?")[0]).route  # the route, not the address


def test_a_fhir_observation_read_names_the_route_and_the_patient(full_integration_a, records_a):
    assessment = records_a["assessment"]
    url = f"/fhir/r4/Observation/assessment-{assessment.pk}-nrs-back"
    assert full_integration_a.api.get(url).status_code == 200

    read = RecordRead.objects.get()
    assert read.endpoint == "/fhir/r4/Observation/<str:pk>"
    assert read.patient_ids == [assessment.patient_id]


def test_a_refused_or_empty_fhir_read_records_nothing(full_integration_a, records_a, records_b):
    api = full_integration_a.api
    assert api.get(f"/fhir/r4/Observation/finding-{records_b['finding'].pk}").status_code == 404
    assert api.get("/fhir/r4/Observation").status_code == 400  # no patient=
    assert api.get(f"/fhir/r4/Observation?patient={records_b['patient'].pk}").status_code == 200
    assert api.get("/fhir/r4/metadata").status_code == 200
    assert not RecordRead.objects.exists()


# --- the admin -----------------------------------------------------------------------------


def browser_for(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


ADMIN_PAGES = {
    "patient": "/admin/patients/patient/{patient}/change/",
    "surgery": "/admin/patients/surgery/{surgery}/change/",
    "exam": "/admin/imaging/imagingexam/{exam}/change/",
    "checkpoint": "/admin/followup/checkpoint/{checkpoint}/change/",
    "alert": "/admin/followup/alert/{alert}/change/",
    "event": "/admin/patients/clinicalevent/{event}/change/",
    "assessment": "/admin/patients/assessment/{assessment}/change/",
    "patient history": "/admin/patients/patient/{patient}/history/",
    "patient delete": "/admin/patients/patient/{patient}/delete/",
}
ADMIN_LISTS = [
    "/admin/patients/patient/",
    "/admin/patients/surgery/",
    "/admin/imaging/imagingexam/",
    "/admin/followup/checkpoint/",
    "/admin/followup/alert/",
    "/admin/patients/clinicalevent/",
    "/admin/patients/assessment/",
]


@pytest.mark.parametrize("page", ADMIN_PAGES, ids=list(ADMIN_PAGES))
def test_an_admin_patient_page_read_is_audited_with_the_user(staff_a, records_a, records_b, page):
    response = browser_for(staff_a.user).get(url_of(ADMIN_PAGES[page], records_a))
    assert response.status_code == 200

    (read,) = RecordRead.objects.all()
    assert (read.user, read.client) == (staff_a.user, None)
    assert read.patient_ids == [records_a["patient"].pk]
    assert read.clinic == staff_a.clinic
    assert read.endpoint.startswith("/admin/") and "<path:object_id>" in read.endpoint


def test_the_patient_page_of_a_viewer_is_audited_too(clinic_a, records_a):
    viewer = make_staff("vic", clinic_a, Role.VIEWER)
    url = url_of(ADMIN_PAGES["patient"], records_a)
    assert browser_for(viewer).get(url).status_code == 200
    assert RecordRead.objects.get().user == viewer


@pytest.mark.parametrize("url", ADMIN_LISTS)
def test_a_list_page_is_audited_with_the_ids_it_shows(staff_a, records_a, records_b, url):
    second = factories.patient(staff_a.clinic)
    factories.exam(second, factories.surgery(second))  # shown on the surgery and exam lists

    response = browser_for(staff_a.user).get(url)
    assert response.status_code == 200

    shown = {row.patient_id if hasattr(row, "patient_id") else row.pk
             for row in response.context["cl"].result_list}  # fmt: skip
    (read,) = RecordRead.objects.all()
    assert read.user == staff_a.user
    assert read.patient_ids == sorted(shown)
    assert records_a["patient"].pk in read.patient_ids
    assert records_b["patient"].pk not in read.patient_ids  # another clinic's: not shown


def test_the_delete_selected_confirmation_is_audited(staff_a, records_a):
    patient = records_a["patient"]
    body = {"action": "delete_selected", "_selected_action": [patient.pk]}
    response = browser_for(staff_a.user).post("/admin/patients/patient/", body)
    assert response.status_code == 200  # the confirmation page, naming the patient
    assert RecordRead.objects.get().patient_ids == [patient.pk]


def test_a_list_page_of_patients_is_audited_with_the_page_only(staff_a):
    patients = [factories.patient(staff_a.clinic, mrn=f"M{i:03d}") for i in range(55)]
    browser = browser_for(staff_a.user)

    assert browser.get("/admin/patients/patient/?o=2").status_code == 200  # by MRN
    assert RecordRead.objects.get().patient_ids == sorted(p.pk for p in patients[:50])


def test_a_page_over_two_clinics_writes_one_insert_a_row_per_clinic(staff_a, clinic_b):
    user = staff_a.user
    user.memberships.create(clinic=clinic_b, role=Role.VIEWER)
    shown = {clinic.pk: sorted(factories.patient(clinic).pk for _ in range(3))
             for clinic in (staff_a.clinic, clinic_b)}  # fmt: skip

    browser = browser_for(user)
    with CaptureQueriesContext(connection) as captured:
        assert browser.get("/admin/patients/patient/").status_code == 200

    # (pghistory puts its context in front of each write: the INSERT is not at the start)
    audit = [q["sql"] for q in captured if '"patients_recordread"' in q["sql"]]
    assert len(audit) == 1 and 'INSERT INTO "patients_recordread"' in audit[0]
    reads_ = RecordRead.objects.values_list("clinic_id", "patient_ids", "user")
    assert sorted(reads_) == [(c, ids, user.pk) for c, ids in sorted(shown.items())]


def test_an_empty_list_or_a_page_without_patients_records_nothing(staff_a, records_a):
    browser = browser_for(staff_a.user)
    assert browser.get("/admin/patients/patient/?q=nobody-has-this-name").status_code == 200
    assert browser.get("/admin/followup/webhookendpoint/").status_code == 200
    assert browser.get("/admin/patients/apiclient/").status_code == 200
    assert browser.get("/admin/dashboard/").status_code == 200
    assert not RecordRead.objects.exists()


def test_a_saved_form_is_not_a_read(staff_a, records_a):
    alert = records_a["alert"]
    url = url_of(ADMIN_PAGES["alert"], records_a)
    saved = browser_for(staff_a.user).post(url, {"action": "acknowledge", "until": "", "note": ""})
    assert saved.status_code == 302
    assert not RecordRead.objects.exists()
    alert.refresh_from_db()
    assert alert.acknowledged_by == staff_a.user


def test_the_worklist_is_audited_with_the_patients_it_lists(staff_a, records_a):
    Alert.objects.filter(pk=records_a["alert"].pk).update(severity=Severity.URGENT)

    assert browser_for(staff_a.user).get("/admin/").status_code == 200

    read = RecordRead.objects.get()
    assert (read.user, read.patient_ids) == (staff_a.user, [records_a["patient"].pk])
    assert read.endpoint == "/admin/"


def test_the_patient_autocomplete_is_audited(staff_a, records_a):
    patient = records_a["patient"]
    url = "/admin/autocomplete/?app_label=patients&model_name=surgery&field_name=patient"
    response = browser_for(staff_a.user).get(f"{url}&term={patient.mrn}")
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(patient.pk)]

    read = RecordRead.objects.get()
    assert (read.user, read.patient_ids) == (staff_a.user, [patient.pk])


# --- who sees the audit --------------------------------------------------------------------

AUDIT = "/admin/patients/recordread/"


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", password="a-long-password-1")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.CLINICIAN, Role.MANAGER])
def test_staff_who_are_not_superusers_cannot_see_the_audit(clinic_a, role):
    browser = browser_for(make_staff(f"staff-{role}", clinic_a, role))
    read = RecordRead.objects.create(clinic=clinic_a, endpoint="/x/", patient_ids=[1],
                                     at=timezone.now())  # fmt: skip

    assert browser.get(AUDIT).status_code == 403
    assert browser.get(f"{AUDIT}{read.pk}/change/").status_code == 403
    assert AUDIT not in browser.get("/admin/").content.decode()


def test_a_superuser_reads_the_audit_and_cannot_change_it(superuser, staff_a, records_a):
    browser_for(staff_a.user).get(url_of(ADMIN_PAGES["patient"], records_a))
    read = RecordRead.objects.get()
    browser = browser_for(superuser)

    listed = browser.get(AUDIT)
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [read]
    assert browser.get(f"{AUDIT}{read.pk}/change/").status_code == 200
    assert browser.get(f"{AUDIT}add/").status_code == 403
    assert browser.post(f"{AUDIT}{read.pk}/delete/", {"post": "yes"}).status_code == 403
    assert RecordRead.objects.filter(pk=read.pk).exists()


def test_the_audit_filters_by_patient_user_client_and_date(superuser, staff_a, clinic_a):
    now = timezone.now()
    alice = RecordRead.objects.create(clinic=clinic_a, user=staff_a.user, endpoint="/a/",
                                      patient_ids=[7, 8], at=now)  # fmt: skip
    old = RecordRead.objects.create(clinic=clinic_a, user=superuser, endpoint="/b/",
                                    patient_ids=[9], at=now - timedelta(days=40))  # fmt: skip
    patient = factories.patient(clinic_a, mrn="FIND-ME")
    by_mrn = RecordRead.objects.create(clinic=clinic_a, user=superuser, endpoint="/c/",
                                       patient_ids=[patient.pk], at=now)  # fmt: skip
    browser = browser_for(superuser)

    def shown(query: str) -> set[int]:
        response = browser.get(f"{AUDIT}?{query}")
        assert response.status_code == 200, query
        return {r.pk for r in response.context["cl"].result_list}

    assert shown("patient=8") == {alice.pk}
    assert shown(f"user__id__exact={staff_a.user.pk}") == {alice.pk}
    assert shown("at__gte=" + (now - timedelta(days=7)).date().isoformat()) == {
        alice.pk, by_mrn.pk}  # fmt: skip
    assert shown("q=9") == {old.pk}
    assert shown("q=FIND-ME") == {by_mrn.pk}


# --- retention -----------------------------------------------------------------------------


def aged(clinic, days: float) -> RecordRead:
    return RecordRead.objects.create(clinic=clinic, endpoint="/x/", patient_ids=[1],
                                     at=timezone.now() - timedelta(days=days))  # fmt: skip


def test_the_sweep_deletes_reads_older_than_the_retention(clinic_a, settings):
    settings.READ_AUDIT_RETENTION_DAYS = 365
    kept = [aged(clinic_a, 1), aged(clinic_a, 364)]
    for days in (366, 800):
        aged(clinic_a, days)

    sweep.run(timezone.now())

    assert sorted(RecordRead.objects.values_list("pk", flat=True)) == sorted(r.pk for r in kept)


def test_a_retention_of_zero_keeps_everything(clinic_a, settings):
    settings.READ_AUDIT_RETENTION_DAYS = 0
    aged(clinic_a, 5000)
    sweep.run(timezone.now())
    assert RecordRead.objects.count() == 1


def test_the_sweep_deletes_a_batch_and_the_command_all(clinic_a, settings, monkeypatch):
    settings.READ_AUDIT_RETENTION_DAYS = 30
    monkeypatch.setattr(read_audit, "PURGE_BATCH", 2)
    for _ in range(5):
        aged(clinic_a, 31)
    recent = aged(clinic_a, 29)

    sweep.run(timezone.now())
    assert RecordRead.objects.count() == 4  # 2 of the 5 old ones: the sweep stays short

    call_command("purge_read_audit", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert list(RecordRead.objects.all()) == [recent]
