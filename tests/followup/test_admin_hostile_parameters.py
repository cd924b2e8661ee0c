"""Parameters the admin's forms never send, typed into its URLs: a 400 or an empty list,
never a 500; and a checkpoint's waiver is not editable around `waivers.waive`.

Before: `?clinic=abc` and a NUL (%00) in a search or an autocomplete term answered 500;
`waived_reason` was a field of the checkpoint's change form."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from followup.models import Checkpoint, CheckpointKind
from tests import factories
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(clinic_a):
    factories.patient(clinic_a, mrn="A-1")
    client = Client(raise_request_exception=False)
    client.force_login(make_staff("carl", clinic_a))
    return client


def test_a_clinic_filter_that_is_not_a_number_lists_nothing(browser):
    response = browser.get("/admin/patients/patient/", {"clinic": "abc"})
    assert response.status_code == 200
    assert "A-1" not in response.content.decode()
    assert "A-1" in browser.get("/admin/patients/patient/").content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/patients/patient/?q=%00",
        "/admin/patients/patient/?q=A%001",
        "/admin/autocomplete/?term=%00&app_label=imaging&model_name=imagingexam&field_name=patient",
        "/admin/autocomplete/?term=x%00y&app_label=patients&model_name=surgery&field_name=patient",
    ],
)
def test_a_nul_in_a_search_or_an_autocomplete_is_a_400(browser, url):
    assert browser.get(url).status_code == 400


def test_a_nul_in_an_api_query_string_is_a_json_400(integration_a):
    response = integration_a.api.get("/api/v1/patients/?family_name=a%00b")
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


def test_a_checkpoints_waiver_is_read_only_in_the_admin(browser, clinic_a):
    patient = factories.patient(clinic_a, mrn="A-2")
    surgery = factories.surgery(patient)
    due = timezone.now() + timedelta(days=30)
    checkpoint = Checkpoint.objects.create(
        clinic=clinic_a, patient=patient, surgery=surgery, code="xr_3m", label="X-ray 3 m",
        kind=CheckpointKind.EXAM, opens_at=due - timedelta(days=14), due_at=due,
        overdue_at=due + timedelta(days=7),
    )  # fmt: skip
    url = f"/admin/followup/checkpoint/{checkpoint.pk}/change/"
    page = browser.get(url).content.decode()
    assert 'name="waived_reason"' not in page
    browser.post(url, {"waived_reason": "typed in the admin"})
    checkpoint.refresh_from_db()
    assert (checkpoint.waived_reason, checkpoint.waived_at) == ("", None)
