"""Patient.lumbar_vertebrae, 5 or 6 (a lumbarisation), through the REST API, the admin,
FHIR and the picture; levels are never renumbered silently (CLINICAL_RULES §3)."""

import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from followup.fhir import codes
from imaging.models import Finding
from patients import levels
from patients.models import Patient, Surgery
from tests import factories

WRITERS = ["staff_a", "integration_a"]
FHIR_JSON = "application/fhir+json"


@pytest.fixture(params=WRITERS)
def writer(request):
    return request.getfixturevalue(request.param)


def browser_for(persona) -> Client:
    browser = Client()
    browser.force_login(persona.user)
    return browser


def lumbarised_with_l6(clinic, where: str) -> Patient:
    """A patient with six lumbar vertebrae and one level naming L6, on a surgery or a finding."""
    patient = factories.patient(clinic, lumbar_vertebrae=6)
    surgery = factories.surgery(
        patient, levels=["L6-S1"] if where == "surgery" else ["L4-L5"],
        performed_at=timezone.now() - timedelta(days=100),
    )  # fmt: skip
    if where == "finding":
        findings = [{"code": "vacuum_disc", "value": True, "level": "L5-L6"},
                    {"code": "vacuum_disc", "value": True, "level": "L4-L5"}]  # fmt: skip
        factories.exam(patient, surgery, findings=findings)
    return patient


# REST API


def test_the_default_is_five(writer):
    body = {"mrn": "LV-1", "family_name": "Doe"}
    response = writer.api.post("/api/v1/patients/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["lumbar_vertebrae"] == 5
    assert Patient.objects.get().lumbar_vertebrae == 5


def test_six_is_written_and_read(writer):
    body = {"mrn": "LV-2", "family_name": "Doe", "lumbar_vertebrae": 6}
    response = writer.api.post("/api/v1/patients/", body, format="json")
    assert response.status_code == 201, response.content
    patient = Patient.objects.get()
    assert patient.lumbar_vertebrae == 6
    read = writer.api.get(f"/api/v1/patients/{patient.pk}/").json()
    assert read["lumbar_vertebrae"] == 6


@pytest.mark.parametrize("value", [4, 7, 0, "six", None, True, 5.5, [6]])
def test_another_value_is_refused_naming_the_field(writer, value):
    body = {"mrn": "LV-3", "family_name": "Doe", "lumbar_vertebrae": value}
    response = writer.api.post("/api/v1/patients/", body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["lumbar_vertebrae"]
    assert Patient.objects.count() == 0


def test_the_database_refuses_another_value(clinic_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.patient(clinic_a, lumbar_vertebrae=4)


@pytest.mark.parametrize("where", ["surgery", "finding"])
def test_back_to_five_is_refused_while_l6_levels_are_recorded(writer, clinic_a, where):
    patient = lumbarised_with_l6(clinic_a, where)
    family_name = patient.family_name
    response = writer.api.patch(
        f"/api/v1/patients/{patient.pk}/", {"lumbar_vertebrae": 5, "family_name": "X"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400, response.content
    (message,) = response.json()["lumbar_vertebrae"]
    assert ("L6-S1" if where == "surgery" else "L5-L6") in message
    assert "L4-L5" not in message
    patient.refresh_from_db()
    assert (patient.lumbar_vertebrae, patient.family_name) == (6, family_name)


def test_back_to_five_is_accepted_once_no_level_names_l6(writer, clinic_a):
    patient = lumbarised_with_l6(clinic_a, "surgery")
    Surgery.objects.filter(patient=patient).update(levels=["L5-S1"])
    response = writer.api.patch(
        f"/api/v1/patients/{patient.pk}/", {"lumbar_vertebrae": 5}, format="json"
    )
    assert response.status_code == 200, response.content
    patient.refresh_from_db()
    assert patient.lumbar_vertebrae == 5


# Admin


def _admin_patient_data(patient: Patient, **changes) -> dict:
    data = {
        "clinic": patient.clinic_id, "mrn": patient.mrn, "family_name": patient.family_name,
        "given_name": patient.given_name, "sex": patient.sex,
        "lumbar_vertebrae": patient.lumbar_vertebrae, "followup_status": patient.followup_status,
    }  # fmt: skip
    return data | changes


def _inline_prefixes(browser, url) -> set[str]:
    """The page's inline formsets, each posted empty."""
    page = browser.get(url).content.decode()
    return {p.split("-TOTAL_FORMS")[0] for p in page.split('name="')
            if "-TOTAL_FORMS" in p.split('"', 1)[0]}  # fmt: skip


def _with_empty_inlines(data: dict, prefixes: set[str]) -> dict:
    for prefix in prefixes:
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data


def test_the_admin_shows_and_changes_the_count(staff_a):
    patient = factories.patient(staff_a.clinic)
    browser = browser_for(staff_a)
    url = f"/admin/patients/patient/{patient.pk}/change/"
    data = _with_empty_inlines(
        _admin_patient_data(patient, lumbar_vertebrae="6"), _inline_prefixes(browser, url)
    )
    response = browser.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    patient.refresh_from_db()
    assert patient.lumbar_vertebrae == 6
    page = browser.get(url).content.decode()
    assert "6 lumbar vertebrae (lumbarisation)" in page
    listing = browser.get("/admin/patients/patient/?lumbar_vertebrae__exact=6").content.decode()
    assert patient.mrn in listing


def test_the_admin_refuses_back_to_five_while_l6_levels_are_recorded(staff_a):
    patient = lumbarised_with_l6(staff_a.clinic, "finding")
    browser = browser_for(staff_a)
    url = f"/admin/patients/patient/{patient.pk}/change/"
    data = _with_empty_inlines(
        _admin_patient_data(patient, lumbar_vertebrae="5"), _inline_prefixes(browser, url)
    )
    response = browser.post(url, data)
    assert response.status_code == 200
    assert "Levels naming L6 are recorded for this patient (L5-L6)" in response.content.decode()
    patient.refresh_from_db()
    assert patient.lumbar_vertebrae == 6


def _surgery_admin_data(patient, levels: str) -> dict:
    return {
        "patient": patient.pk, "performed_at_0": "2024-01-10", "performed_at_1": "09:00:00",
        "procedure": "tlif", "levels": levels, "hardware": "", "approach": "",
        "surgeon": "", "notes": "",
    }  # fmt: skip


def test_the_surgery_admin_normalises_levels_and_checks_l6(staff_a):
    five = factories.patient(staff_a.clinic)
    six = factories.patient(staff_a.clinic, lumbar_vertebrae=6)
    browser = browser_for(staff_a)
    add = "/admin/patients/surgery/add/"
    inlines = _inline_prefixes(browser, add)

    def post(patient, levels):
        return browser.post(add, _with_empty_inlines(_surgery_admin_data(patient, levels), inlines))

    refused = post(five, "L4-L5,L5-L6")
    assert refused.status_code == 200
    assert "six lumbar vertebrae" in refused.content.decode()
    assert not Surgery.objects.exists()

    assert post(five, "l4/5, L5-S1").status_code == 302
    assert Surgery.objects.get(patient=five).levels == ["L4-L5", "L5-S1"]
    assert post(six, "L5-6,l6/s1").status_code == 302
    assert Surgery.objects.get(patient=six).levels == ["L5-L6", "L6-S1"]


def test_the_finding_inline_normalises_and_checks_the_kind(staff_a):
    patient = factories.patient(staff_a.clinic)
    exam = factories.exam(patient, accession_number="ACC-ADM")
    data = {
        "patient": patient.pk, "modality": "XR", "contrast": "none",
        "performed_at_0": exam.performed_at.strftime("%Y-%m-%d"), "performed_at_1": "10:00:00",
        "accession_number": "ACC-ADM",
        "findings-TOTAL_FORMS": "1", "findings-INITIAL_FORMS": "0",
        "findings-0-code": "vacuum_disc", "findings-0-value": "yes",
        "findings-0-level": "L5", "findings-0-side": "",
    }  # fmt: skip
    browser = browser_for(staff_a)
    url = f"/admin/imaging/imagingexam/{exam.pk}/change/"
    refused = browser.post(url, data)
    assert refused.status_code == 200
    assert "L5 is a vertebra: this finding is about a joint" in refused.content.decode()
    refused = browser.post(url, {**data, "findings-0-level": "L6-S1"})
    assert refused.status_code == 200
    assert "exists only for a patient with six lumbar vertebrae" in refused.content.decode()
    assert not Finding.objects.filter(exam=exam).exists()

    accepted = browser.post(url, {**data, "findings-0-level": "l4/5"})
    assert accepted.status_code == 302
    assert Finding.objects.get(exam=exam).level == "L4-L5"


# FHIR


def test_fhir_patient_renders_the_count(integration_a, clinic_a):
    patient = factories.patient(clinic_a, lumbar_vertebrae=6)
    resource = integration_a.api.get(f"/fhir/r4/Patient/{patient.pk}").json()
    assert {"url": codes.EXT_LUMBAR_VERTEBRAE, "valueInteger": 6} in resource["extension"]
    assert codes.EXT_LUMBAR_VERTEBRAE.startswith(codes.BASE)


def _import(persona, patient: dict):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:p", "resource": patient,
         "request": {"method": "POST", "url": "Patient"}}]}  # fmt: skip
    return persona.api.post("/fhir/r4/", json.dumps(bundle), content_type=FHIR_JSON)


def _fhir_patient(*extension: dict) -> dict:
    return {"resourceType": "Patient", "identifier": [codes.mrn_identifier("FL-1")],
            "name": [{"family": "Doe"}], "extension": list(extension)}  # fmt: skip


def test_fhir_import_reads_the_count_and_leaves_it_when_not_sent(integration_a):
    six = {"url": codes.EXT_LUMBAR_VERTEBRAE, "valueInteger": 6}
    assert _import(integration_a, _fhir_patient(six)).status_code == 200
    assert Patient.objects.get().lumbar_vertebrae == 6
    response = _import(integration_a, _fhir_patient())  # an EHR that knows nothing of it
    assert response.status_code == 200, response.content
    assert Patient.objects.get().lumbar_vertebrae == 6


@pytest.mark.parametrize("extension", [{"valueInteger": 4}, {"valueInteger": 7},
                                       {"valueString": "6"}, {"valueBoolean": True}])  # fmt: skip
def test_fhir_import_refuses_another_value_naming_the_extension(integration_a, extension):
    response = _import(integration_a, _fhir_patient({"url": codes.EXT_LUMBAR_VERTEBRAE,
                                                     **extension}))  # fmt: skip
    assert response.status_code == 400, response.content
    (issue,) = response.json()["issue"]
    assert issue["expression"] == ["Bundle.entry[0].resource.extension"]
    assert Patient.objects.count() == 0


def test_fhir_import_refuses_back_to_five_while_l6_levels_are_recorded(integration_a, clinic_a):
    patient = lumbarised_with_l6(clinic_a, "surgery")
    resource = {"resourceType": "Patient", "identifier": [codes.mrn_identifier(patient.mrn)],
                "extension": [{"url": codes.EXT_LUMBAR_VERTEBRAE, "valueInteger": 5}]}  # fmt: skip
    response = _import(integration_a, resource)
    assert response.status_code == 400, response.content
    (issue,) = response.json()["issue"]
    assert issue["expression"] == ["Bundle.entry[0].resource.extension"]
    assert "L6-S1" in issue["diagnostics"]
    patient.refresh_from_db()
    assert patient.lumbar_vertebrae == 6


# The picture


def test_the_picture_shows_a_lumbarisation_at_the_top():
    assert levels.variant_note("", 5) == ""
    assert levels.variant_note("Sacralised L5", 5) == "Sacralised L5"
    assert levels.variant_note("", 6) == "6 lumbar vertebrae (lumbarisation)"
    assert levels.variant_note("S1 lumbarised", 6) == (
        "6 lumbar vertebrae (lumbarisation); S1 lumbarised"
    )


def test_the_admin_picture_carries_the_count(staff_a):
    patient = factories.patient(staff_a.clinic, lumbar_vertebrae=6)
    factories.surgery(patient, levels=["L6-S1"])
    page = browser_for(staff_a).get(f"/admin/patients/patient/{patient.pk}/change/")
    assert "Transitional variant: 6 lumbar vertebrae (lumbarisation)" in page.content.decode()
