"""Recurrent radicular pain after a discectomy: is gadolinium indicated? [Guide, Fig. 7]

Contrast only if the MR shows a herniation like the pre-operative one, and only
before the gadolinium cutoff (day 183): `contrast_decision` on /api/v1/checkpoints/.
"""

from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from followup.pipeline import refresh
from patients.models import ClinicalEvent
from tests import factories

from .conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)
PAIN = DAY0 + timedelta(days=60)
CUTOFF = local("Europe/Paris", 2026, 7, 7, 0, 0)  # the start of day 183


def discectomy(clinic, procedure="discectomy"):
    surgery = factories.surgery(
        factories.patient(clinic), DAY0, procedure=procedure, levels=["L5-S1"], hardware=[]
    )
    ClinicalEvent.objects.create(
        patient=surgery.patient, surgery=surgery, code="recurrent_radicular_pain", occurred_at=PAIN
    )
    refresh.refresh(surgery.pk, PAIN)
    return surgery


def mr(surgery, herniation: str, at=PAIN + timedelta(days=5), **fields):
    exam = factories.exam(
        surgery.patient,
        surgery,
        modality="MR",
        performed_at=at,
        findings=[{"code": "disc_herniation", "value": herniation, "level": "L5-S1",
                   "side": "left"}],
        **fields,
    )  # fmt: skip
    refresh.refresh(surgery.pk, at)
    return exam


def decision(persona, surgery, now: datetime) -> dict:
    with time_machine.travel(now, tick=False):
        response = persona.api.get(f"/api/v1/checkpoints/?surgery={surgery.pk}")
    assert response.status_code == 200, response.content
    rows = {row["code"]: row for row in response.json()["results"]}
    assert rows["gadolinium_cutoff"]["contrast_decision"] is None  # only on the work-up
    return rows["recurrent_radicular_pain"]["contrast_decision"]


@pytest.fixture
def surgery_a(protocols, clinic_a):
    return discectomy(clinic_a)


def test_before_any_mr_contrast_is_not_yet_indicated(integration_a, surgery_a):
    shown = decision(integration_a, surgery_a, PAIN + timedelta(days=1))

    assert shown["contrast_indicated"] is False
    assert shown["before_gadolinium_cutoff"] is True
    assert shown["herniation_similar_to_preop"] is None
    assert "only if the MR shows a herniation similar" in shown["explanation"]


def test_a_herniation_like_the_preop_one_before_the_cutoff_calls_for_contrast(
    integration_a, surgery_a
):
    mr(surgery_a, "similar_to_preop")

    shown = decision(integration_a, surgery_a, PAIN + timedelta(days=6))

    assert shown["contrast_indicated"] is True
    assert shown["herniation_similar_to_preop"] is True
    assert "separate scar from recurrence" in shown["explanation"]


def test_after_the_cutoff_contrast_is_no_longer_indicated(integration_a, surgery_a):
    mr(surgery_a, "similar_to_preop")

    just_before = decision(integration_a, surgery_a, CUTOFF - timedelta(seconds=1))
    at_cutoff = decision(integration_a, surgery_a, CUTOFF)

    assert just_before["contrast_indicated"] is True
    assert at_cutoff["contrast_indicated"] is False
    assert at_cutoff["before_gadolinium_cutoff"] is False
    assert "after the gadolinium cutoff" in at_cutoff["explanation"]


def test_a_herniation_different_from_the_preop_one_needs_no_contrast(integration_a, surgery_a):
    mr(surgery_a, "different_from_preop")

    shown = decision(integration_a, surgery_a, PAIN + timedelta(days=6))

    assert shown["contrast_indicated"] is False
    assert shown["herniation_similar_to_preop"] is False
    assert "recurrence" in shown["explanation"]


def test_no_herniation_needs_no_contrast_and_is_not_called_a_recurrence(integration_a, surgery_a):
    mr(surgery_a, "none")

    shown = decision(integration_a, surgery_a, PAIN + timedelta(days=6))

    assert shown["contrast_indicated"] is False
    assert "recurrence" not in shown["explanation"]


def test_the_latest_mr_decides(integration_a, surgery_a):
    mr(surgery_a, "different_from_preop", PAIN + timedelta(days=2))
    mr(surgery_a, "similar_to_preop", PAIN + timedelta(days=9))

    assert decision(integration_a, surgery_a, PAIN + timedelta(days=10))["contrast_indicated"]


def test_an_mr_from_before_the_pain_does_not_decide(integration_a, surgery_a):
    mr(surgery_a, "similar_to_preop", PAIN - timedelta(days=10))

    shown = decision(integration_a, surgery_a, PAIN + timedelta(days=1))

    assert shown["herniation_similar_to_preop"] is None
    assert shown["contrast_indicated"] is False


def test_the_gadolinium_cutoff_date_is_shown(integration_a, surgery_a):
    shown = decision(integration_a, surgery_a, PAIN + timedelta(days=1))

    assert datetime.fromisoformat(shown["gadolinium_cutoff"]) == CUTOFF


def test_the_detail_shows_the_decision_too(integration_a, surgery_a):
    mr(surgery_a, "similar_to_preop")
    workup = surgery_a.checkpoints.get(code="recurrent_radicular_pain")

    with time_machine.travel(PAIN + timedelta(days=6), tick=False):
        response = integration_a.api.get(f"/api/v1/checkpoints/{workup.pk}/")

    assert response.status_code == 200, response.content
    assert response.json()["contrast_decision"]["contrast_indicated"] is True


def test_other_workups_carry_no_decision(integration_a, surgery_a):
    ClinicalEvent.objects.create(
        patient=surgery_a.patient, surgery=surgery_a, code="infection_signs", occurred_at=PAIN
    )
    refresh.refresh(surgery_a.pk, PAIN)

    with time_machine.travel(PAIN + timedelta(days=1), tick=False):
        rows = integration_a.api.get(f"/api/v1/checkpoints/?surgery={surgery_a.pk}").json()
    by_code = {row["code"]: row for row in rows["results"]}
    assert by_code["infection_signs"]["contrast_decision"] is None


def test_the_list_costs_the_same_queries_for_1_and_20_such_workups(
    protocols, clinic_a, integration_a
):
    def queries() -> tuple[int, int]:
        with (
            time_machine.travel(PAIN + timedelta(days=6), tick=False),
            CaptureQueriesContext(connection) as captured,
        ):
            response = integration_a.api.get("/api/v1/checkpoints/?kind=workup&limit=500")
        assert response.status_code == 200, response.content
        decided = [r for r in response.json()["results"] if r["contrast_decision"]]
        return len(captured), len(decided)

    mr(discectomy(clinic_a), "similar_to_preop")
    one, decided = queries()
    assert decided == 1
    for n in range(19):
        mr(discectomy(clinic_a), "similar_to_preop" if n % 2 else "different_from_preop")

    many, decided = queries()
    assert decided == 20
    assert many == one
