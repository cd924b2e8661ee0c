"""The work-ups of CLINICAL_RULES §5 are edited in the admin like any protocol: every number
on the page, saving makes a new version, and what was planned before keeps its own."""

from datetime import timedelta

import pytest
from django.test import Client

from followup.models import Checkpoint, CheckpointDefinition, Protocol
from followup.pipeline import refresh
from patients.models import ClinicalEvent, Role
from tests import factories
from tests.conftest import make_staff

from .browser_form import form_data
from .conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)
BEFORE = local("Europe/Paris", 2026, 1, 20, 14, 30)
AFTER = local("Europe/Paris", 2026, 1, 27, 10, 0)


@pytest.fixture
def manager(paris):
    browser = Client(raise_request_exception=False)
    browser.force_login(make_staff("manon", paris, Role.MANAGER))
    return browser


def change_url(protocol: Protocol) -> str:
    return f"/admin/followup/protocol/{protocol.pk}/change/"


def rows(data: dict) -> dict[str, str]:
    """definition code -> its inline prefix (`definitions-3`)."""
    return {
        value: key.removesuffix("-code")
        for key, value in data.items()
        if key.startswith("definitions-") and key.endswith("-code")
    }


def save_as_the_browser_does(browser: Client, protocol: Protocol, clinic, **changes):
    """Open the change form, change what a person would change, press Save."""
    page = browser.get(change_url(protocol))
    assert page.status_code == 200
    data = form_data(page.content.decode(), "protocol_form")
    data["clinic"] = str(clinic.pk)  # a manager saves for their clinic
    prefixes = rows(data)
    for code_field, value in changes.items():
        code, field = code_field.split("__")
        data[f"{prefixes[code]}-{field}"] = str(value)
    data["_save"] = "Save"
    return browser.post(change_url(protocol), data)


def test_the_change_form_shows_every_number_of_section_5(protocols, manager):
    page = manager.get(change_url(protocols["workups"]))

    data = form_data(page.content.decode(), "protocol_form")
    for prefix in rows(data).values():
        for field in ("due_hours", "recommendation", "modalities", "overdue_severity",
                      "grace_days"):  # fmt: skip
            assert f"{prefix}-{field}" in data, field
    no_improvement = rows(data)["no_improvement"]
    assert data[f"{no_improvement}-due_hours"] == "720"
    assert data[f"{no_improvement}-recommendation"].startswith("MR")


def test_a_manager_saving_the_workups_makes_a_new_version(protocols, paris, manager):
    workups = protocols["workups"]

    response = save_as_the_browser_does(
        manager, workups, paris, no_improvement__due_hours=24,
        no_improvement__recommendation="MR within a day.",
    )  # fmt: skip

    assert response.status_code == 302, response.content.decode()[:3000]
    mine = Protocol.objects.current("workups", paris.pk)
    assert (mine.clinic, mine.version) == (paris, 1)
    saved = mine.definitions.get(code="no_improvement")
    assert (saved.due_hours, saved.recommendation) == (24, "MR within a day.")
    assert mine.definitions.count() == workups.definitions.count()
    assert workups.definitions.get(code="no_improvement").due_hours == 720  # not in place


def test_a_workup_without_due_hours_is_refused_on_the_form_not_with_a_500(
    protocols, paris, manager
):
    response = save_as_the_browser_does(
        manager, protocols["workups"], paris, cauda_equina__due_hours=""
    )

    assert response.status_code == 200
    assert "A work-up is due a number of hours after the event." in response.content.decode()
    assert not Protocol.objects.filter(clinic=paris).exists()


def test_events_after_the_save_get_the_new_due_hours_and_earlier_workups_keep_theirs(
    protocols, paris, manager
):
    surgery = factories.surgery(factories.patient(paris), DAY0, procedure="decompression")
    refresh.refresh(surgery.pk, DAY0)
    earlier = ClinicalEvent.objects.create(
        patient=surgery.patient, surgery=surgery, code="no_improvement", occurred_at=BEFORE
    )
    refresh.refresh(surgery.pk, BEFORE)

    response = save_as_the_browser_does(
        manager, protocols["workups"], paris, no_improvement__due_hours=24
    )
    assert response.status_code == 302, response.content.decode()[:3000]

    later = ClinicalEvent.objects.create(
        patient=surgery.patient, surgery=surgery, code="no_improvement", occurred_at=AFTER
    )
    refresh.refresh(surgery.pk, AFTER)

    old, new = Checkpoint.objects.get(event=earlier), Checkpoint.objects.get(event=later)
    assert old.due_at == BEFORE + timedelta(days=30)
    assert old.definition.protocol == protocols["workups"]
    assert new.due_at == AFTER + timedelta(hours=24)
    assert new.definition == CheckpointDefinition.objects.get(
        protocol__clinic=paris, code="no_improvement"
    )
