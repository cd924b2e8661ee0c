"""DICOM sources: `create_dicom_source` maps a calling AE title to a clinic (idempotent);
the clinic's managers keep them in the admin, other staff only look."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from followup.models import DicomSource
from patients.models import Role
from tests.conftest import make_staff

ADD = "/admin/followup/dicomsource/add/"


def create(*args) -> str:
    out = StringIO()
    call_command("create_dicom_source", *args, stdout=out)
    return out.getvalue()


def browser_for(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_create_dicom_source_is_idempotent(clinic_a):
    assert "Created" in create("clinic-a", "CT_ROOM_2")
    assert "Exists" in create("clinic-a", "CT_ROOM_2")

    source = DicomSource.objects.get()
    assert (source.clinic, source.ae_title) == (clinic_a, "CT_ROOM_2")


def test_an_ae_title_sends_to_one_clinic_only(clinic_a, clinic_b):
    create("clinic-a", "PACS")

    with pytest.raises(CommandError, match="another clinic"):
        create("clinic-b", "PACS")
    assert DicomSource.objects.get().clinic == clinic_a


@pytest.mark.parametrize("title", ["", "SEVENTEEN_CHARS_X", "BACK\\SLASH", "TAB\tX"])
def test_an_invalid_ae_title_is_refused(clinic_a, title):
    with pytest.raises(CommandError, match="AE title"):
        create("clinic-a", title)
    assert not DicomSource.objects.exists()


def test_an_unknown_clinic_is_refused(db):
    with pytest.raises(CommandError, match="No clinic"):
        create("nowhere", "CT1")


def test_managers_add_sources_clinicians_only_look(clinic_a):
    manager = make_staff("mona", clinic_a, Role.MANAGER)
    clinician = make_staff("carl", clinic_a, Role.CLINICIAN)
    form = {"clinic": clinic_a.pk, "ae_title": "  MR_1 ", "name": "MR room 1"}

    assert browser_for(clinician).post(ADD, form).status_code == 403
    assert browser_for(manager).post(ADD, form).status_code == 302

    assert DicomSource.objects.get().ae_title == "MR_1"
    assert browser_for(clinician).get("/admin/followup/dicomsource/").status_code == 200


def test_staff_of_another_clinic_do_not_see_a_source(clinic_a, clinic_b):
    source = DicomSource.objects.create(clinic=clinic_a, ae_title="CT1")
    other = make_staff("bob", clinic_b, Role.MANAGER)

    page = browser_for(other).get(f"/admin/followup/dicomsource/{source.pk}/change/")

    assert page.status_code == 302  # "doesn't exist", back to the admin's index
