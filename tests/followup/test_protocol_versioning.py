"""Editing a protocol makes a new version for new surgeries; scheduled patients keep theirs."""

import pytest
from django.test import Client

from followup.models import CheckpointDefinition, Protocol
from followup.pipeline import refresh
from patients.models import Role
from tests import factories
from tests.conftest import make_staff

from .conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)


def new_version(protocol: Protocol, clinic, baseline_due: int) -> Protocol:
    copy = Protocol.objects.create(family=protocol.family, clinic=clinic, name=protocol.name)
    for definition in protocol.definitions.all():
        definition.pk, definition.protocol = None, copy
        if definition.code == "baseline_film":
            definition.due_day = baseline_due
        definition.save()
    return copy


def baseline_due(surgery):
    return surgery.checkpoints.get(code="baseline_film").due_at


@pytest.fixture
def scheduled(protocols, paris):
    surgery = factories.surgery(factories.patient(paris), DAY0, procedure="tlif")
    refresh.refresh(surgery.pk, DAY0)
    return surgery


def test_a_new_version_applies_to_new_surgeries_only(protocols, paris, scheduled):
    due_before = baseline_due(scheduled)
    v2 = new_version(protocols["fusion"], paris, baseline_due=30)
    assert v2.version == 1  # the clinic's own first version
    newer = factories.surgery(factories.patient(paris), DAY0, procedure="tlif")
    refresh.refresh(newer.pk, DAY0)

    # A change to the old surgery re-plans with the version it was planned with.
    scheduled.notes = "edited"
    scheduled.save()
    refresh.refresh(scheduled.pk, DAY0)

    assert baseline_due(scheduled) == due_before
    assert baseline_due(newer) == local("Europe/Paris", 2026, 2, 5, 0, 0)  # end of day 30
    newer.refresh_from_db()
    assert newer.plan.protocol == v2


def test_another_clinic_keeps_the_shared_default(protocols, paris, clinic_b):
    new_version(protocols["fusion"], paris, baseline_due=30)
    elsewhere = factories.surgery(factories.patient(clinic_b), DAY0, procedure="tlif")
    refresh.refresh(elsewhere.pk, DAY0)
    elsewhere.refresh_from_db()
    assert elsewhere.plan.protocol == protocols["fusion"]


def test_re_planning_on_purpose_moves_a_surgery_onto_the_current_version(
    protocols, paris, scheduled
):
    v2 = new_version(protocols["fusion"], paris, baseline_due=30)
    refresh.refresh(scheduled.pk, DAY0, onto_current=True)
    scheduled.refresh_from_db()
    assert scheduled.plan.protocol == v2
    assert baseline_due(scheduled) == local("Europe/Paris", 2026, 2, 5, 0, 0)


def test_saving_in_the_admin_creates_a_version_and_changes_nothing_in_place(protocols, paris):
    manager = make_staff("manager", paris, Role.MANAGER)
    browser = Client()
    browser.force_login(manager)
    fusion = protocols["fusion"]
    definitions = list(fusion.definitions.all())
    data = {
        "family": "fusion", "clinic": paris.pk, "name": fusion.name, "notes": "shorter baseline",
        "definitions-TOTAL_FORMS": str(len(definitions)), "definitions-INITIAL_FORMS": "0",
    }  # fmt: skip
    for i, d in enumerate(definitions):
        data |= {
            f"definitions-{i}-code": d.code, f"definitions-{i}-label": d.label,
            f"definitions-{i}-kind": d.kind, f"definitions-{i}-opens_day": d.opens_day,
            f"definitions-{i}-due_day": 30 if d.code == "baseline_film" else d.due_day,
            f"definitions-{i}-target_day": d.target_day or "",
            f"definitions-{i}-grace_days": d.grace_days,
            f"definitions-{i}-modalities": ",".join(d.modalities),
            f"definitions-{i}-instruments": ",".join(d.instruments),
            f"definitions-{i}-required": "on",
            f"definitions-{i}-overdue_severity": d.overdue_severity,
            f"definitions-{i}-source": d.source,
        }  # fmt: skip

    response = browser.post(f"/admin/followup/protocol/{fusion.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:3000]
    fusion.refresh_from_db()
    assert fusion.definitions.get(code="baseline_film").due_day == 42
    mine = Protocol.objects.current("fusion", paris.pk)
    assert mine.pk != fusion.pk
    assert mine.clinic == paris
    assert mine.created_by == manager
    assert CheckpointDefinition.objects.get(protocol=mine, code="baseline_film").due_day == 30
