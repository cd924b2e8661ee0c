"""GET /api/v1/alerts/ and POST .../acknowledge/, .../resolve/, .../snooze/, by persona."""

from datetime import datetime, timedelta
from itertools import count

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pghistory.models import MiddlewareEvents

from followup.models import Alert, AlertStatus, Checkpoint, Severity, SurgeryPlan
from followup.models.alerts import AlertCode
from followup.pipeline import sweep
from tests import factories

from .conftest import local

T0 = local("Europe/Paris", 2026, 3, 2, 9, 0)
ACTIONS = ["acknowledge", "resolve", "snooze"]
_subjects = count(1)


@pytest.fixture(autouse=True)
def clock():
    """Time stands still at T0 (sessions and tokens are made under it too); tests move it."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def make_alert(surgery, code=AlertCode.SCREW_LOOSENING, severity=Severity.HIGH, **fields) -> Alert:
    fields.setdefault("subject", f"L5:left:{next(_subjects)}")
    fields.setdefault("message", f"{code} on surgery {surgery.pk}")
    return Alert.objects.create(
        clinic=surgery.clinic,
        patient=surgery.patient,
        surgery=surgery,
        code=code,
        severity=severity,
        **fields,
    )


def make_checkpoint(surgery, code="baseline_film") -> Checkpoint:
    return Checkpoint.objects.create(
        clinic=surgery.clinic,
        patient=surgery.patient,
        surgery=surgery,
        code=code,
        label="Baseline film",
        kind="exam",
        opens_at=surgery.performed_at,
        due_at=surgery.performed_at + timedelta(days=42),
        overdue_at=surgery.performed_at + timedelta(days=49),
    )


def new_surgery(clinic, patient=None):
    return factories.surgery(patient or factories.patient(clinic), T0 - timedelta(days=60))


@pytest.fixture
def alert_a(clinic_a) -> Alert:
    return make_alert(new_surgery(clinic_a))


@pytest.fixture
def alert_b(clinic_b) -> Alert:
    return make_alert(new_surgery(clinic_b))


def listed(persona, query="") -> list[dict]:
    response = persona.api.get(f"/api/v1/alerts/{query}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def ids(rows) -> set[int]:
    return {row["id"] for row in rows}


def act(persona, alert: Alert, action: str, body: dict | None = None):
    return persona.api.post(f"/api/v1/alerts/{alert.pk}/{action}/", body or {}, format="json")


def valid_body(action: str) -> dict:
    return {
        "acknowledge": {},
        "resolve": {"note": "Seen in clinic, nothing to do."},
        "snooze": {"until": (T0 + timedelta(days=7)).isoformat()},
    }[action]


def stored(alert: Alert) -> dict:
    """Every column an action could touch, to show that a refused action changed nothing."""
    return Alert.objects.filter(pk=alert.pk).values().get()


# --- reading ----------------------------------------------------------------


def test_the_contract_fields(integration_a, clinic_a):
    surgery = new_surgery(clinic_a)
    exam = factories.exam(surgery.patient, surgery)
    checkpoint = make_checkpoint(surgery)
    alert = make_alert(
        surgery,
        AlertCode.CHECKPOINT_OVERDUE,
        Severity.WARNING,
        exam=exam,
        checkpoint=checkpoint,
        subject=f"checkpoint:{checkpoint.pk}",
        message="Baseline film overdue",
    )

    (row,) = listed(integration_a)

    assert row["id"] == alert.pk
    assert row["patient"] == surgery.patient_id
    assert row["surgery"] == surgery.pk
    assert row["exam"] == exam.pk
    assert row["checkpoint"] == checkpoint.pk
    assert row["code"] == "checkpoint_overdue"
    assert row["severity"] == "warning"
    assert row["status"] == "open"
    assert row["message"] == "Baseline film overdue"
    created_at = datetime.fromisoformat(row["created_at"])
    assert created_at.tzinfo is not None
    assert created_at == T0
    detail = integration_a.api.get(f"/api/v1/alerts/{alert.pk}/")
    assert detail.status_code == 200
    assert detail.json() == row


@pytest.fixture
def assorted(clinic_a, clinic_b):
    """Two patients of A (the first with two surgeries) and one of B, alerts in every status."""
    first = new_surgery(clinic_a)
    second_of_first = new_surgery(clinic_a, first.patient)
    other = new_surgery(clinic_a)
    theirs = new_surgery(clinic_b)
    alerts = {
        "open": make_alert(first, AlertCode.SCREW_LOOSENING, Severity.HIGH),
        "acknowledged": make_alert(
            second_of_first, AlertCode.ABSCESS, Severity.URGENT, status=AlertStatus.ACKNOWLEDGED
        ),
        "resolved": make_alert(
            other, AlertCode.CUMULATIVE_DOSE, Severity.INFO, status=AlertStatus.RESOLVED
        ),
        "snoozed": make_alert(
            other,
            AlertCode.DELAYED_FUSION,
            Severity.WARNING,
            status=AlertStatus.SNOOZED,
            snoozed_until=T0 + timedelta(days=3),
        ),
        "theirs": make_alert(theirs, AlertCode.SCREW_LOOSENING, Severity.HIGH),
    }
    return {"first": first, "other": other, "theirs": theirs, "alerts": alerts}


@pytest.mark.parametrize("persona_name", ["integration_a", "staff_a", "viewer_a"])
def test_a_clinic_lists_its_own_alerts(request, persona_name, assorted):
    persona = request.getfixturevalue(persona_name)
    mine = {alert.pk for name, alert in assorted["alerts"].items() if name != "theirs"}
    assert ids(listed(persona)) == mine


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("patient={first.patient_id}", {"open", "acknowledged"}),
        ("surgery={first.pk}", {"open"}),
        ("surgery={other.pk}", {"resolved", "snoozed"}),
        ("status=open", {"open"}),
        ("status=acknowledged", {"acknowledged"}),
        ("status=snoozed", {"snoozed"}),
        ("status=resolved", {"resolved"}),
        ("severity=urgent", {"acknowledged"}),
        ("severity=info", {"resolved"}),
        ("code=delayed_fusion", {"snoozed"}),
        ("code=screw_loosening", {"open"}),
        ("patient={other.patient_id}&status=resolved", {"resolved"}),
    ],
)
def test_filters(integration_a, assorted, query, expected):
    rows = listed(integration_a, "?" + query.format(**assorted))
    assert ids(rows) == {assorted["alerts"][name].pk for name in expected}


@pytest.mark.parametrize("persona_name", ["integration_a", "staff_a"])
def test_another_clinics_ids_give_an_empty_list(request, persona_name, assorted):
    persona = request.getfixturevalue(persona_name)
    theirs = assorted["theirs"]
    assert listed(persona, f"?patient={theirs.patient_id}") == []
    assert listed(persona, f"?surgery={theirs.pk}") == []


def test_bad_filter_values_are_a_400_naming_the_filter(integration_a, assorted):
    for name in ("status", "severity", "code"):
        response = integration_a.api.get(f"/api/v1/alerts/?{name}=nonsense")
        assert response.status_code == 400
        assert name in response.json()


# --- who may do what ----------------------------------------------------------


def test_anonymous_gets_401(anonymous, alert_a):
    assert anonymous.api.get("/api/v1/alerts/").status_code == 401
    assert anonymous.api.get(f"/api/v1/alerts/{alert_a.pk}/").status_code == 401
    before = stored(alert_a)
    for action in ACTIONS:
        assert act(anonymous, alert_a, action, valid_body(action)).status_code == 401
    assert stored(alert_a) == before


@pytest.mark.parametrize("persona_name", ["staff_b", "integration_b"])
def test_another_clinics_alert_is_a_404_for_reading_and_every_action(
    request, persona_name, alert_a
):
    persona = request.getfixturevalue(persona_name)
    before = stored(alert_a)
    assert listed(persona) == []
    assert persona.api.get(f"/api/v1/alerts/{alert_a.pk}/").status_code == 404
    for action in ACTIONS:
        response = act(persona, alert_a, action, valid_body(action))
        assert response.status_code == 404, (action, response.content)
    assert stored(alert_a) == before


def test_a_viewer_may_read_but_not_act(viewer_a, alert_a):
    before = stored(alert_a)
    assert viewer_a.api.get(f"/api/v1/alerts/{alert_a.pk}/").status_code == 200
    for action in ACTIONS:
        assert act(viewer_a, alert_a, action, valid_body(action)).status_code == 403, action
    assert stored(alert_a) == before


# --- acknowledge ------------------------------------------------------------------


def test_acknowledging_records_who_and_when(staff_a, alert_a):
    response = act(staff_a, alert_a, "acknowledge")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "acknowledged"
    alert_a.refresh_from_db()
    assert alert_a.status == AlertStatus.ACKNOWLEDGED
    assert alert_a.acknowledged_by == staff_a.user
    assert alert_a.acknowledged_at == T0


def test_an_integration_acknowledges_without_a_person(integration_a, alert_a):
    assert act(integration_a, alert_a, "acknowledge").status_code == 200
    alert_a.refresh_from_db()
    assert alert_a.status == AlertStatus.ACKNOWLEDGED
    assert alert_a.acknowledged_by is None
    assert alert_a.acknowledged_at == T0


def test_acknowledging_twice_is_fine_and_changes_nothing(staff_a, integration_a, alert_a, clock):
    assert act(staff_a, alert_a, "acknowledge").status_code == 200
    first = stored(alert_a)
    events = MiddlewareEvents.objects.tracks(alert_a).count()

    clock.shift(timedelta(hours=2))
    for persona in (staff_a, integration_a):
        response = act(persona, alert_a, "acknowledge")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "acknowledged"

    assert stored(alert_a) == first
    assert MiddlewareEvents.objects.tracks(alert_a).count() == events


def test_a_resolved_alert_cannot_be_acknowledged(integration_a, alert_a):
    Alert.objects.filter(pk=alert_a.pk).update(status=AlertStatus.RESOLVED, resolution_note="x")
    before = stored(alert_a)

    response = act(integration_a, alert_a, "acknowledge")

    assert response.status_code == 400
    assert "status" in response.json()
    assert stored(alert_a) == before


# --- resolve ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [{}, {"note": ""}, {"note": "   "}], ids=["none", "empty", "blank"]
)
def test_resolving_needs_a_note(staff_a, alert_a, body):
    before = stored(alert_a)

    response = act(staff_a, alert_a, "resolve", body)

    assert response.status_code == 400
    assert "note" in response.json()
    assert stored(alert_a) == before


def test_resolving_records_who_when_and_why(staff_a, alert_a, clock):
    act(staff_a, alert_a, "acknowledge")
    clock.shift(timedelta(days=1))

    response = act(staff_a, alert_a, "resolve", {"note": "Revision planned."})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "resolved"
    assert response.json()["resolution_note"] == "Revision planned."
    alert_a.refresh_from_db()
    assert alert_a.status == AlertStatus.RESOLVED
    assert alert_a.resolved_by == staff_a.user
    assert alert_a.resolved_at == T0 + timedelta(days=1)
    assert alert_a.resolution_note == "Revision planned."
    assert alert_a.auto_resolved is False


def test_resolving_a_resolved_alert_is_refused(staff_a, integration_a, alert_a, clock):
    assert act(staff_a, alert_a, "resolve", {"note": "First"}).status_code == 200
    before = stored(alert_a)
    clock.shift(timedelta(hours=1))

    response = act(integration_a, alert_a, "resolve", {"note": "Second"})

    assert response.status_code == 400
    assert "status" in response.json()
    assert stored(alert_a) == before


# --- snooze -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"until": ""},
        {"until": "next week"},
        {"until": T0.isoformat()},
        {"until": (T0 - timedelta(minutes=1)).isoformat()},
    ],
    ids=["missing", "empty", "not-a-time", "now", "past"],
)
def test_a_snooze_must_end_in_the_future(integration_a, alert_a, body):
    before = stored(alert_a)

    response = act(integration_a, alert_a, "snooze", body)

    assert response.status_code == 400
    assert "until" in response.json()
    assert stored(alert_a) == before


def test_a_snooze_runs_out_and_the_alert_is_open_again(staff_a, alert_a, clock):
    # The surgery's follow-up is up to date: the sweep has only the snooze to see to (a stale
    # surgery would be re-evaluated, and this finding alert without its exam resolved).
    SurgeryPlan.objects.filter(pk=alert_a.surgery_id).update(stale_since=None)
    until = T0 + timedelta(days=3)
    response = act(staff_a, alert_a, "snooze", {"until": until.isoformat()})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "snoozed"
    alert_a.refresh_from_db()
    assert (alert_a.status, alert_a.snoozed_until) == (AlertStatus.SNOOZED, until)

    clock.move_to(until - timedelta(seconds=1))
    assert listed(staff_a)[0]["status"] == "snoozed"
    assert ids(listed(staff_a, "?status=snoozed")) == {alert_a.pk}
    assert listed(staff_a, "?status=open") == []

    clock.move_to(until)
    detail = staff_a.api.get(f"/api/v1/alerts/{alert_a.pk}/").json()
    assert detail["status"] == "open"  # before any sweep
    assert ids(listed(staff_a, "?status=open")) == {alert_a.pk}
    assert listed(staff_a, "?status=snoozed") == []
    alert_a.refresh_from_db()
    assert alert_a.status == AlertStatus.SNOOZED

    sweep.run()

    alert_a.refresh_from_db()
    assert alert_a.status == AlertStatus.OPEN
    assert alert_a.snoozed_until is None
    assert ids(listed(staff_a, "?status=open")) == {alert_a.pk}


def test_a_snoozed_alert_can_be_acknowledged_and_forgets_its_snooze(integration_a, alert_a):
    act(integration_a, alert_a, "snooze", valid_body("snooze"))

    assert act(integration_a, alert_a, "acknowledge").status_code == 200

    alert_a.refresh_from_db()
    assert alert_a.status == AlertStatus.ACKNOWLEDGED
    assert alert_a.snoozed_until is None


def test_a_resolved_alert_cannot_be_snoozed(integration_a, alert_a):
    act(integration_a, alert_a, "resolve", {"note": "Done"})
    before = stored(alert_a)

    response = act(integration_a, alert_a, "snooze", valid_body("snooze"))

    assert response.status_code == 400
    assert "status" in response.json()
    assert stored(alert_a) == before


# --- the history of transitions -------------------------------------------------


def updates_of(alert: Alert):
    return MiddlewareEvents.objects.tracks(alert).filter(pgh_label="update").order_by("pgh_id")


def test_an_integration_clients_acknowledgement_is_kept_with_the_client(integration_a, alert_a):
    act(integration_a, alert_a, "acknowledge")

    (event,) = updates_of(alert_a)
    assert event.pgh_context["api_client"] == integration_a.client.pk
    assert event.pgh_context.get("user") is None
    assert event.pgh_context["url"] == f"/api/v1/alerts/{alert_a.pk}/acknowledge/"
    assert event.pgh_diff["status"] == ["open", "acknowledged"]


def test_a_staff_members_acknowledgement_is_kept_with_the_user(staff_a, alert_a):
    act(staff_a, alert_a, "acknowledge")

    (event,) = updates_of(alert_a)
    assert event.pgh_context["user"] == staff_a.user.pk
    assert "api_client" not in event.pgh_context
    assert event.pgh_diff["status"] == ["open", "acknowledged"]


def test_every_transition_is_kept_in_order_with_its_actor(staff_a, integration_a, alert_a, clock):
    act(integration_a, alert_a, "snooze", valid_body("snooze"))
    clock.shift(timedelta(hours=1))
    act(staff_a, alert_a, "acknowledge")
    clock.shift(timedelta(hours=1))
    act(staff_a, alert_a, "resolve", {"note": "Fine on review."})

    events = list(updates_of(alert_a))

    assert [e.pgh_diff["status"] for e in events] == [
        ["open", "snoozed"],
        ["snoozed", "acknowledged"],
        ["acknowledged", "resolved"],
    ]
    actors = [(e.pgh_context.get("api_client"), e.pgh_context.get("user")) for e in events]
    assert actors == [
        (integration_a.client.pk, None),
        (None, staff_a.user.pk),
        (None, staff_a.user.pk),
    ]
    assert events[2].pgh_diff["resolution_note"] == ["", "Fine on review."]


# --- cost -------------------------------------------------------------------------


@pytest.mark.parametrize("persona_name", ["integration_a", "staff_a"])
def test_the_list_uses_the_same_number_of_queries_for_1_and_50_alerts(
    request, persona_name, clinic_a
):
    persona = request.getfixturevalue(persona_name)

    def add(n: int) -> None:
        for _ in range(n):
            surgery = new_surgery(clinic_a)
            exam = factories.exam(surgery.patient, surgery)
            make_alert(surgery, exam=exam, checkpoint=make_checkpoint(surgery))

    def queries(expected_rows: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert len(listed(persona)) == expected_rows
        return len(captured)

    add(1)
    one = queries(1)
    add(49)
    assert queries(50) == one
