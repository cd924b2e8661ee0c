"""GET /api/v1/checkpoints/ and POST .../waive/, by persona."""

from datetime import timedelta

import pytest
import time_machine

from followup.models import Alert, AlertStatus
from followup.pipeline import refresh, sweep
from tests import factories

from .conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)


@pytest.fixture
def fusion_a(protocols, clinic_a):
    surgery = factories.surgery(factories.patient(clinic_a), DAY0, procedure="tlif")
    refresh.refresh(surgery.pk, DAY0)
    return surgery


def listed(persona, query="") -> list[dict]:
    response = persona.api.get(f"/api/v1/checkpoints/{query}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_the_contract_fields(integration_a, fusion_a):
    row = next(r for r in listed(integration_a) if r["code"] == "baseline_film")
    for name in ("id", "patient", "surgery", "code", "kind", "opens_at", "due_at", "status",
                 "satisfied_by"):  # fmt: skip
        assert name in row
    assert row["patient"] == fusion_a.patient_id
    assert row["surgery"] == fusion_a.pk
    assert row["kind"] == "exam"


def test_the_status_is_right_for_now_even_without_a_sweep(integration_a, fusion_a):
    with time_machine.travel(local("Europe/Paris", 2026, 2, 16, 23, 59), tick=False):
        assert {r["code"]: r["status"] for r in listed(integration_a)}["baseline_film"] == "open"
    with time_machine.travel(local("Europe/Paris", 2026, 2, 17, 0, 0), tick=False):
        statuses = {r["code"]: r["status"] for r in listed(integration_a)}
    assert statuses["baseline_film"] == "overdue"
    assert statuses["bridging_film"] == "upcoming"
    assert statuses["gadolinium_cutoff"] == "upcoming"


@pytest.mark.parametrize(
    ("status", "codes"),
    [
        # A PROM never answered is overdue too (its status), though it raises no alert.
        ("overdue", {"baseline_film", "bridging_film", "prom_baseline", "prom_6w", "prom_3m"}),
        ("passed", {"gadolinium_cutoff", "early_changes_end"}),
        ("open", {"fusion_assessment", "prom_12m"}),
    ],
)
def test_filter_by_status(integration_a, fusion_a, status, codes):
    with time_machine.travel(DAY0 + timedelta(days=340), tick=False):
        assert {r["code"] for r in listed(integration_a, f"?status={status}")} == codes


def test_filter_by_surgery_and_patient(integration_a, fusion_a, clinic_a):
    other = factories.surgery(factories.patient(clinic_a), DAY0, procedure="tlif")
    refresh.refresh(other.pk, DAY0)
    assert {r["surgery"] for r in listed(integration_a, f"?surgery={fusion_a.pk}")} == {fusion_a.pk}
    assert {r["patient"] for r in listed(integration_a, f"?patient={other.patient_id}")} == {
        other.patient_id
    }


def test_another_clinic_sees_nothing(integration_b, staff_b, fusion_a):
    checkpoint = fusion_a.checkpoints.get(code="baseline_film")
    for persona in (integration_b, staff_b):
        assert listed(persona) == []
        assert listed(persona, f"?patient={fusion_a.patient_id}") == []
        assert persona.api.get(f"/api/v1/checkpoints/{checkpoint.pk}/").status_code == 404
        response = persona.api.post(
            f"/api/v1/checkpoints/{checkpoint.pk}/waive/", {"reason": "x"}, format="json"
        )
        assert response.status_code == 404


def test_anonymous_gets_401(anonymous, fusion_a):
    assert anonymous.api.get("/api/v1/checkpoints/").status_code == 401


def test_waiving_needs_a_reason(integration_a, fusion_a):
    checkpoint = fusion_a.checkpoints.get(code="baseline_film")
    response = integration_a.api.post(
        f"/api/v1/checkpoints/{checkpoint.pk}/waive/", {}, format="json"
    )
    assert response.status_code == 400
    assert "reason" in response.json()
    checkpoint.refresh_from_db()
    assert checkpoint.waived_at is None


def test_waiving_records_who_and_why_and_resolves_the_overdue_alert(staff_a, fusion_a):
    sweep.run(DAY0 + timedelta(days=50))
    checkpoint = fusion_a.checkpoints.get(code="baseline_film")
    assert Alert.objects.get(checkpoint=checkpoint).status == AlertStatus.OPEN

    response = staff_a.api.post(
        f"/api/v1/checkpoints/{checkpoint.pk}/waive/",
        {"reason": "Film done at another hospital"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "waived"
    checkpoint.refresh_from_db()
    assert checkpoint.waived_by == staff_a.user
    assert checkpoint.waived_reason == "Film done at another hospital"
    alert = Alert.objects.get(checkpoint=checkpoint)
    assert alert.status == AlertStatus.RESOLVED
    assert "another hospital" in alert.resolution_note


def test_a_milestone_or_a_satisfied_checkpoint_cannot_be_waived(integration_a, fusion_a):
    milestone = fusion_a.checkpoints.get(code="gadolinium_cutoff")
    response = integration_a.api.post(
        f"/api/v1/checkpoints/{milestone.pk}/waive/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 400
    assert "status" in response.json()


def test_a_viewer_cannot_waive(viewer_a, fusion_a):
    checkpoint = fusion_a.checkpoints.get(code="baseline_film")
    response = viewer_a.api.post(
        f"/api/v1/checkpoints/{checkpoint.pk}/waive/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 403


@pytest.mark.parametrize("persona_name", ["integration_a", "staff_a"])
def test_the_list_uses_the_same_number_of_queries_for_1_and_50_surgeries(
    request, persona_name, protocols, clinic_a, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    persona = request.getfixturevalue(persona_name)

    def add(count):
        for _ in range(count):
            surgery = factories.surgery(factories.patient(clinic_a), DAY0, procedure="tlif")
            refresh.refresh(surgery.pk, DAY0)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            listed(persona, "?limit=500")
        return len(captured)

    add(1)
    one = queries()
    add(49)
    assert queries() == one
