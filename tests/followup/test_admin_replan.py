"""The surgeries' re-plan action: the one way staff move surgeries planned long ago onto
the current protocol and thresholds versions (CLINICAL_RULES §4, "Numbers are pinned").
Clinicians and managers of the surgery's clinic run it, never a viewer; it says what it
changed per surgery, and the audit trail records who did it."""

import pytest
from django.test import Client
from pghistory.models import MiddlewareEvents

from followup.models import Protocol, Thresholds
from followup.pipeline import refresh
from patients.models import Membership, Role
from tests import factories
from tests.conftest import make_staff

from .conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)
LIST = "/admin/patients/surgery/"
ACTION = "replan_onto_current_versions"


def planned(clinic):
    surgery = factories.surgery(factories.patient(clinic), DAY0, procedure="tlif")
    refresh.refresh(surgery.pk, DAY0)
    surgery.refresh_from_db()
    return surgery


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def replan(user, *surgeries):
    return browser(user).post(
        LIST, {"action": ACTION, "_selected_action": [s.pk for s in surgeries]}, follow=True
    )


def said(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def old(protocols, paris):
    """A fusion planned on the shared defaults, before the clinic made its own versions."""
    return planned(paris)


@pytest.fixture
def new_versions(protocols, paris, old):
    fusion = Protocol.objects.create(family="fusion", clinic=paris, name="Paris fusion")
    for definition in protocols["fusion"].definitions.all():
        definition.pk, definition.protocol = None, fusion
        definition.save()
    thresholds = Thresholds.objects.create(clinic=paris, screw_lucency_mm=3)
    return fusion, thresholds


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.MANAGER])
def test_staff_who_write_move_the_surgery_onto_both_current_versions(
    old, new_versions, paris, role
):
    fusion, thresholds = new_versions
    assert (old.plan.protocol.clinic, old.plan.thresholds.clinic) == (None, None)
    shared = old.plan.protocol.version  # the newest shared default (2: with the PROMs)

    response = replan(make_staff("writer", paris, role), old)

    old.refresh_from_db()
    assert (old.plan.protocol, old.plan.thresholds) == (fusion, thresholds)
    assert any(
        f"protocol v{shared} (default) -> v1 (paris), thresholds v1 (default) -> v1 (paris)" in m
        for m in said(response)
    ), said(response)


def test_the_message_says_when_a_surgery_was_already_current(old, new_versions, paris):
    current = planned(paris)
    shared = old.plan.protocol.version  # the newest shared default (2: with the PROMs)

    response = replan(make_staff("clara", paris, Role.CLINICIAN), old, current)

    messages = said(response)
    assert any(current.patient.mrn in m and "already on the current versions" in m
               for m in messages), messages  # fmt: skip
    assert any(old.patient.mrn in m and f"protocol v{shared} (default) -> v1 (paris)" in m
               for m in messages), messages  # fmt: skip


def test_a_viewer_is_not_offered_the_action_and_cannot_run_it(old, new_versions, paris):
    viewer = make_staff("vera", paris, Role.VIEWER)
    page = browser(viewer).get(LIST)
    assert page.status_code == 200
    assert ACTION not in page.content.decode()

    replan(viewer, old)

    old.refresh_from_db()
    assert (old.plan.protocol.clinic, old.plan.thresholds.clinic) == (None, None)


def test_another_clinics_staff_cannot_replan_our_surgeries(old, new_versions, clinic_b):
    replan(make_staff("bob", clinic_b, Role.MANAGER), old)

    old.refresh_from_db()
    assert (old.plan.protocol.clinic, old.plan.thresholds.clinic) == (None, None)


def test_a_viewer_here_and_clinician_elsewhere_cannot_replan_here(
    old, new_versions, paris, clinic_b
):
    user = make_staff("mixed", clinic_b, Role.CLINICIAN)
    Membership.objects.create(user=user, clinic=paris, role=Role.VIEWER)

    response = replan(user, old)

    old.refresh_from_db()
    assert (old.plan.protocol.clinic, old.plan.thresholds.clinic) == (None, None)
    assert any("only read" in m for m in said(response)), said(response)


def test_the_audit_trail_records_who_re_planned(old, new_versions, paris):
    manager = make_staff("manon", paris, Role.MANAGER)

    replan(manager, old)

    # The test's one transaction gives every event the same time: find the request's.
    (event,) = [
        e
        for e in MiddlewareEvents.objects.tracks(old.plan).filter(pgh_label="update")
        if e.pgh_context and "thresholds_id" in (e.pgh_diff or {})
    ]
    assert event.pgh_context["user"] == manager.pk
    assert set(event.pgh_diff) >= {"protocol_id", "thresholds_id"}
    page = browser(manager).get(f"{LIST}{old.pk}/change/").content.decode()
    assert "user manon" in page
