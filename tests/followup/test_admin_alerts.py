"""The admin's alert list and alert page: staff see their clinic's alerts and act on them."""

from datetime import timedelta
from itertools import count

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pghistory.models import MiddlewareEvents

from followup.models import Alert, AlertStatus, Checkpoint, Severity
from followup.models.alerts import AlertCode
from tests import factories

from .conftest import local

T0 = local("Europe/Paris", 2026, 3, 2, 9, 0)
LIST = "/admin/followup/alert/"
_subjects = count(1)


@pytest.fixture(autouse=True)
def clock():
    """Time stands still at T0 (the sessions are made under it too); tests move it."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def browser_for(persona) -> Client:
    browser = Client()
    browser.force_login(persona.user)
    return browser


def change_url(alert: Alert) -> str:
    return f"/admin/followup/alert/{alert.pk}/change/"


def make_alert(clinic, code=AlertCode.SCREW_LOOSENING, severity=Severity.HIGH, **fields) -> Alert:
    surgery = fields.pop("surgery", None) or factories.surgery(
        factories.patient(clinic), T0 - timedelta(days=60)
    )
    fields.setdefault("subject", f"L5:left:{next(_subjects)}")
    fields.setdefault("message", f"MSG-{next(_subjects):06d}")  # no message prefixes another
    return Alert.objects.create(
        clinic=clinic,
        patient=surgery.patient,
        surgery=surgery,
        code=code,
        severity=severity,
        **fields,
    )


def make_checkpoint(surgery) -> Checkpoint:
    return Checkpoint.objects.create(
        clinic=surgery.clinic,
        patient=surgery.patient,
        surgery=surgery,
        code="baseline_film",
        label="Baseline film",
        kind="exam",
        opens_at=surgery.performed_at,
        due_at=surgery.performed_at + timedelta(days=42),
        overdue_at=surgery.performed_at + timedelta(days=49),
    )


def shown(page: str, *alerts: Alert) -> list[bool]:
    return [alert.message in page for alert in alerts]


# --- the list -------------------------------------------------------------------


def test_the_list_shows_my_clinics_alerts_most_severe_first_then_oldest_first(
    staff_a, staff_b, clock
):
    a = staff_a.clinic

    def raised(days_ago: int, severity: str, name: str) -> Alert:
        clock.move_to(T0 - timedelta(days=days_ago))
        return make_alert(a, severity=severity, message=f"MSG-{name}")

    # Created in an order that matches neither the expected one nor its reverse.
    info_old = raised(9, Severity.INFO, "info-old")
    warning_new = raised(1, Severity.WARNING, "warning-new")
    high_new = raised(2, Severity.HIGH, "high-new")
    urgent_new = raised(3, Severity.URGENT, "urgent-new")
    high_old = raised(6, Severity.HIGH, "high-old")
    urgent_old = raised(7, Severity.URGENT, "urgent-old")
    warning_old = raised(8, Severity.WARNING, "warning-old")
    theirs = make_alert(staff_b.clinic, severity=Severity.URGENT, message="MSG-theirs")
    clock.move_to(T0)

    page = browser_for(staff_a).get(LIST).content.decode()

    expected = [urgent_old, urgent_new, high_old, high_new, warning_old, warning_new, info_old]
    positions = [page.find(alert.message) for alert in expected]
    assert -1 not in positions
    assert positions == sorted(positions), [a.message for a in expected]
    assert theirs.message not in page


@pytest.fixture
def assorted(staff_a, staff_b):
    a = staff_a.clinic
    return {
        "open_high": make_alert(a, AlertCode.SCREW_LOOSENING, Severity.HIGH),
        "acknowledged_urgent": make_alert(
            a, AlertCode.ABSCESS, Severity.URGENT, status=AlertStatus.ACKNOWLEDGED
        ),
        "resolved_info": make_alert(
            a, AlertCode.CUMULATIVE_DOSE, Severity.INFO, status=AlertStatus.RESOLVED
        ),
        "snoozed_warning": make_alert(
            a,
            AlertCode.DELAYED_FUSION,
            Severity.WARNING,
            status=AlertStatus.SNOOZED,
            snoozed_until=T0 + timedelta(days=3),
        ),
        "snooze_ran_out": make_alert(
            a,
            AlertCode.ADJACENT_SEGMENT,
            Severity.WARNING,
            status=AlertStatus.SNOOZED,
            snoozed_until=T0 - timedelta(minutes=1),
        ),
        "theirs": make_alert(staff_b.clinic, AlertCode.SCREW_LOOSENING, Severity.HIGH),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "",
            {
                "open_high",
                "acknowledged_urgent",
                "resolved_info",
                "snoozed_warning",
                "snooze_ran_out",
            },
        ),
        ("severity__exact=urgent", {"acknowledged_urgent"}),
        ("severity__exact=warning", {"snoozed_warning", "snooze_ran_out"}),
        ("status=acknowledged", {"acknowledged_urgent"}),
        ("status=resolved", {"resolved_info"}),
        # As in the status column and the API: a snooze that has run out is open again.
        ("status=open", {"open_high", "snooze_ran_out"}),
        ("status=snoozed", {"snoozed_warning"}),
        ("code__exact=abscess", {"acknowledged_urgent"}),
        ("code__exact=screw_loosening", {"open_high"}),
        ("severity__exact=warning&status=snoozed", {"snoozed_warning"}),
    ],
)
def test_the_list_filters(staff_a, assorted, query, expected):
    response = browser_for(staff_a).get(f"{LIST}?{query}")
    assert response.status_code == 200
    page = response.content.decode()
    assert {name for name, alert in assorted.items() if alert.message in page} == expected


def test_the_list_uses_the_same_number_of_queries_for_1_and_50_alerts(staff_a):
    browser = browser_for(staff_a)

    def add(n: int) -> None:
        for _ in range(n):
            surgery = factories.surgery(factories.patient(staff_a.clinic), T0 - timedelta(days=60))
            exam = factories.exam(surgery.patient, surgery)
            make_alert(
                staff_a.clinic, surgery=surgery, exam=exam, checkpoint=make_checkpoint(surgery)
            )

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert browser.get(LIST).status_code == 200
        return len(captured)

    add(1)
    one = queries()
    add(49)
    assert queries() == one


# --- the bulk action ----------------------------------------------------------------


def bulk_acknowledge(browser: Client, *alerts: Alert):
    return browser.post(
        LIST,
        {"action": "acknowledge_selected", "_selected_action": [a.pk for a in alerts]},
    )


def test_the_bulk_action_acknowledges_the_selected_open_alerts(staff_a, assorted, clock):
    clock.shift(timedelta(hours=1))
    resolved_before = Alert.objects.filter(pk=assorted["resolved_info"].pk).values().get()
    selected = [assorted[k] for k in ("open_high", "snoozed_warning", "resolved_info", "theirs")]

    response = bulk_acknowledge(browser_for(staff_a), *selected)

    assert response.status_code == 302
    for name in ("open_high", "snoozed_warning"):
        alert = Alert.objects.get(pk=assorted[name].pk)
        assert alert.status == AlertStatus.ACKNOWLEDGED, name
        assert alert.acknowledged_by == staff_a.user
        assert alert.acknowledged_at == T0 + timedelta(hours=1)
        assert alert.snoozed_until is None
    assert Alert.objects.filter(pk=assorted["resolved_info"].pk).values().get() == resolved_before
    # Not selected, or another clinic's: left alone.
    assert Alert.objects.get(pk=assorted["snooze_ran_out"].pk).status == AlertStatus.SNOOZED
    theirs = Alert.objects.get(pk=assorted["theirs"].pk)
    assert (theirs.status, theirs.acknowledged_by) == (AlertStatus.OPEN, None)


def test_the_bulk_action_keeps_an_earlier_acknowledgement(staff_a, clinic_a, clock):
    first = make_alert(clinic_a, status=AlertStatus.ACKNOWLEDGED, acknowledged_at=T0)
    clock.shift(timedelta(days=1))

    bulk_acknowledge(browser_for(staff_a), first)

    first.refresh_from_db()
    assert first.acknowledged_at == T0
    assert first.acknowledged_by is None


# --- the alert's page ---------------------------------------------------------------


def act(browser: Client, alert: Alert, action: str, until: str = "", note: str = ""):
    return browser.post(change_url(alert), {"action": action, "until": until, "note": note})


def form_errors(response) -> dict:
    assert response.status_code == 200, response.status_code
    return response.context["adminform"].form.errors


def test_resolving_on_the_page_records_who_and_why(staff_a, clinic_a, clock):
    alert = make_alert(clinic_a)
    clock.shift(timedelta(hours=3))

    response = act(browser_for(staff_a), alert, "resolve", note="Revision done elsewhere.")

    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by == staff_a.user
    assert alert.resolved_at == T0 + timedelta(hours=3)
    assert alert.resolution_note == "Revision done elsewhere."
    (event,) = MiddlewareEvents.objects.tracks(alert).filter(pgh_label="update")
    assert event.pgh_context["user"] == staff_a.user.pk
    assert event.pgh_diff["status"] == ["open", "resolved"]


def test_resolving_on_the_page_without_a_note_is_refused(staff_a, clinic_a):
    alert = make_alert(clinic_a)

    response = act(browser_for(staff_a), alert, "resolve", note="")

    assert "note" in form_errors(response)
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_at, alert.resolved_by) == (AlertStatus.OPEN, None, None)


def test_acknowledging_on_the_page_records_who(staff_a, clinic_a):
    alert = make_alert(clinic_a)

    assert act(browser_for(staff_a), alert, "acknowledge").status_code == 302

    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == staff_a.user
    assert alert.acknowledged_at == T0


@pytest.mark.parametrize(
    "until",
    ["", "2026-03-01 09:00:00", T0.isoformat(sep=" ")],
    ids=["missing", "past", "now"],
)
def test_snoozing_on_the_page_into_the_past_is_refused(staff_a, clinic_a, until):
    alert = make_alert(clinic_a)

    response = act(browser_for(staff_a), alert, "snooze", until=until)

    assert "until" in form_errors(response)
    alert.refresh_from_db()
    assert (alert.status, alert.snoozed_until) == (AlertStatus.OPEN, None)


def test_snoozing_on_the_page(staff_a, clinic_a):
    alert = make_alert(clinic_a)

    response = act(browser_for(staff_a), alert, "snooze", until="2026-03-09 08:00:00")

    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == AlertStatus.SNOOZED
    assert alert.snoozed_until == T0 + timedelta(days=7)


def test_resolving_a_resolved_alert_on_the_page_changes_nothing(staff_a, clinic_a):
    alert = make_alert(clinic_a, status=AlertStatus.RESOLVED, resolution_note="First")
    before = Alert.objects.filter(pk=alert.pk).values().get()

    act(browser_for(staff_a), alert, "resolve", note="Second")

    assert Alert.objects.filter(pk=alert.pk).values().get() == before


def test_the_page_links_to_the_patient_the_exam_and_the_checkpoint(staff_a, clinic_a):
    surgery = factories.surgery(factories.patient(clinic_a, mrn="LINK-1"), T0 - timedelta(days=60))
    exam = factories.exam(surgery.patient, surgery)
    checkpoint = make_checkpoint(surgery)
    alert = make_alert(clinic_a, surgery=surgery, exam=exam, checkpoint=checkpoint)

    response = browser_for(staff_a).get(change_url(alert))

    assert response.status_code == 200
    page = response.content.decode()
    for url in (
        reverse("admin:patients_patient_change", args=[surgery.patient_id]),
        reverse("admin:imaging_imagingexam_change", args=[exam.pk]),
        reverse("admin:followup_checkpoint_change", args=[checkpoint.pk]),
    ):
        assert f'href="{url}"' in page, url
    assert "LINK-1" in page
    # Each link leads to a page that exists for the same person.
    browser = browser_for(staff_a)
    for url in (
        reverse("admin:patients_patient_change", args=[surgery.patient_id]),
        reverse("admin:imaging_imagingexam_change", args=[exam.pk]),
        reverse("admin:followup_checkpoint_change", args=[checkpoint.pk]),
    ):
        assert browser.get(url).status_code == 200, url


def test_another_clinics_alert_page_does_not_exist(staff_a, clinic_b):
    theirs = make_alert(clinic_b, message="MSG-theirs-secret")
    browser = browser_for(staff_a)

    response = browser.get(change_url(theirs), follow=True)
    page = response.content.decode()
    assert "doesn\u2019t exist" in page
    assert "MSG-theirs-secret" not in page

    act(browser, theirs, "resolve", note="Not mine")
    bulk_acknowledge(browser, theirs)
    theirs.refresh_from_db()
    assert theirs.status == AlertStatus.OPEN


def test_a_viewer_can_look_but_not_act(viewer_a, clinic_a):
    alert = make_alert(clinic_a, message="MSG-looked-at")
    browser = browser_for(viewer_a)
    assert "MSG-looked-at" in browser.get(LIST).content.decode()
    assert browser.get(change_url(alert)).status_code == 200

    assert act(browser, alert, "resolve", note="Not allowed").status_code == 403
    assert act(browser, alert, "acknowledge").status_code == 403
    bulk_acknowledge(browser, alert)

    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
    assert (alert.acknowledged_by, alert.resolved_by) == (None, None)
