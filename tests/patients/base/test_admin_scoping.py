"""The admin shows staff their own clinics' patients, surgeries and exams, nothing else."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from imaging.models import Finding
from tests import factories


def browser_for(persona) -> Client:
    browser = Client()
    browser.force_login(persona.user)
    return browser


@pytest.fixture
def two_clinics(staff_a, staff_b):
    mine = factories.patient(staff_a.clinic, mrn="A-1", family_name="Mine")
    theirs = factories.patient(staff_b.clinic, mrn="B-1", family_name="Theirs")
    return mine, theirs


def test_patient_list_shows_only_my_clinic(staff_a, two_clinics):
    page = browser_for(staff_a).get("/admin/patients/patient/").content.decode()
    assert "Mine" in page
    assert "Theirs" not in page


def test_another_clinics_patient_page_does_not_exist(staff_a, two_clinics):
    _, theirs = two_clinics
    response = browser_for(staff_a).get(f"/admin/patients/patient/{theirs.pk}/change/", follow=True)
    assert "Theirs" not in response.content.decode()
    assert "doesn\u2019t exist" in response.content.decode()


def test_another_clinics_surgery_and_exam_do_not_exist(staff_a, staff_b):
    theirs = factories.patient(staff_b.clinic, family_name="Theirs")
    surgery = factories.surgery(theirs)
    exam = factories.exam(theirs, surgery)
    browser = browser_for(staff_a)
    for url in (
        f"/admin/patients/surgery/{surgery.pk}/change/",
        f"/admin/imaging/imagingexam/{exam.pk}/change/",
    ):
        response = browser.get(url, follow=True)
        assert "doesn\u2019t exist" in response.content.decode(), url


def test_search_by_mrn(staff_a):
    factories.patient(staff_a.clinic, mrn="FIND-ME", family_name="Target")
    factories.patient(staff_a.clinic, mrn="OTHER", family_name="Noise")
    page = browser_for(staff_a).get("/admin/patients/patient/?q=FIND-ME").content.decode()
    assert "Target" in page
    assert "Noise" not in page


def test_a_viewer_can_look_but_not_change(viewer_a):
    patient = factories.patient(viewer_a.clinic, family_name="Looked")
    browser = browser_for(viewer_a)
    assert browser.get(f"/admin/patients/patient/{patient.pk}/change/").status_code == 200
    response = browser.post(f"/admin/patients/patient/{patient.pk}/change/", {"family_name": "X"})
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.family_name == "Looked"


def test_the_clinic_choices_are_my_clinics(staff_a, staff_b):
    page = browser_for(staff_a).get("/admin/patients/patient/add/").content.decode()
    assert staff_a.clinic.name in page
    assert staff_b.clinic.name not in page


def test_findings_are_edited_inline_and_checked_by_the_vocabulary(staff_a):
    patient = factories.patient(staff_a.clinic)
    exam = factories.exam(patient, accession_number="ACC-INLINE")
    data = {
        "patient": patient.pk,
        "modality": "XR",
        "contrast": "none",
        "performed_at_0": exam.performed_at.strftime("%Y-%m-%d"),
        "performed_at_1": "10:00:00",
        "accession_number": "ACC-INLINE",
        "findings-TOTAL_FORMS": "1",
        "findings-INITIAL_FORMS": "0",
        "findings-0-code": "screw_lucency_mm",
        "findings-0-value": "25",
        "findings-0-level": "L5",
        "findings-0-side": "left",
    }
    browser = browser_for(staff_a)
    url = f"/admin/imaging/imagingexam/{exam.pk}/change/"

    refused = browser.post(url, data)
    assert refused.status_code == 200
    assert "screw_lucency_mm must be between 0 and 20" in refused.content.decode()
    assert not Finding.objects.filter(exam=exam).exists()

    accepted = browser.post(url, {**data, "findings-0-value": "2.5"})
    assert accepted.status_code == 302
    assert Finding.objects.get(exam=exam).value == 2.5


def _queries(browser, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert browser.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "url",
    ["/admin/patients/patient/", "/admin/patients/surgery/", "/admin/imaging/imagingexam/"],
)
def test_list_pages_use_the_same_number_of_queries_for_1_and_50_rows(staff_a, url):
    browser = browser_for(staff_a)

    def add(count):
        for _ in range(count):
            patient = factories.patient(staff_a.clinic)
            factories.exam(patient, factories.surgery(patient))

    add(1)
    one = _queries(browser, url)
    add(49)
    fifty = _queries(browser, url)
    assert one == fifty
