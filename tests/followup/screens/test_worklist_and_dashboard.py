"""The admin's landing worklist, its acknowledge and waive buttons, the dashboard, and the
query counts of every admin page that lists things (the same for 1 row as for 50)."""

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from followup.models import (
    Alert,
    AlertStatus,
    Checkpoint,
    Email,
    Protocol,
    Severity,
    Subscription,
    Thresholds,
    WebhookDelivery,
    WebhookEndpoint,
)
from followup.models.alerts import AlertCode
from patients.admin.records import ClinicalEventInline
from patients.models import (
    ApiClient,
    ApiRequest,
    Assessment,
    ClinicalEvent,
    Patient,
    PatientIdentifier,
)
from tests import factories
from tests.conftest import make_staff
from tests.followup.conftest import local

from .svg import NS, charts_in, class_with, classes, find, tooltip

T0 = local("Europe/Paris", 2026, 3, 2, 9, 0)
WORKLIST = "/admin/"
DASHBOARD = "/admin/dashboard/"
_serial = count(1)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def browser_for(persona_or_user) -> Client:
    browser = Client()
    browser.force_login(getattr(persona_or_user, "user", persona_or_user))
    return browser


def days(n: float) -> timedelta:
    return timedelta(days=n)


def new_surgery(clinic):
    return factories.surgery(factories.patient(clinic), T0 - days(200))


def checkpoint(clinic, code="baseline_film", kind="exam", due=0.0, grace=7, **fields):
    """A window ending `due` days from T0 (negative: in the past), overdue `grace` days later."""
    surgery = fields.pop("surgery", None) or new_surgery(clinic)
    fields.setdefault("opens_at", T0 + days(due - 30))
    return Checkpoint.objects.create(
        clinic=surgery.clinic, patient=surgery.patient, surgery=surgery, code=code,
        label=f"{code} #{next(_serial)}", kind=kind, due_at=T0 + days(due),
        overdue_at=T0 + days(due + grace), modalities=["XR", "CT"], **fields,
    )  # fmt: skip


def alert(clinic, severity=Severity.URGENT, code=AlertCode.SCREW_MISPLACED, **fields) -> Alert:
    surgery = fields.pop("surgery", None) or new_surgery(clinic)
    fields.setdefault("subject", f"L5:left:{next(_serial)}")
    fields.setdefault("message", f"MSG-{next(_serial):06d}")
    return Alert.objects.create(
        clinic=clinic, patient=surgery.patient, surgery=surgery, code=code, severity=severity,
        **fields,
    )  # fmt: skip


def sections(html: str) -> dict[str, set[tuple[str, int]]]:
    """Worklist heading (without its count) -> the ("alert" | "checkpoint", id) listed under it."""
    worklist = html.split('<div id="worklist"', 1)[1].split("</div>", 1)[0]
    found = {}
    for chunk in worklist.split("<h2>")[1:]:
        heading = chunk.split(" (", 1)[0]
        rows = re.findall(r'data-(alert|checkpoint)="(\d+)"', chunk)
        found[heading] = {(kind, int(pk)) for kind, pk in rows}
    return found


def row(target: Alert | Checkpoint) -> tuple[str, int]:
    return ("alert" if isinstance(target, Alert) else "checkpoint", target.pk)


ALERTS, OVERDUE = "Urgent and high alerts", "Overdue checkpoints"
WORKUPS, THIS_WEEK = "Work-ups due in the next 24 hours", "Checkpoints due this week"
PROM_SECTIONS = (
    "Questionnaires answered with a worse score", "Questionnaires due now",
    "Questionnaires missed in the last 30 days", "Proposed as lost to follow-up",
)  # fmt: skip


# --- the worklist -------------------------------------------------------------------


@pytest.fixture
def assorted(staff_a, staff_b):
    a, b = staff_a.clinic, staff_b.clinic
    return {
        # alerts
        "urgent": alert(a, Severity.URGENT),
        "high_acknowledged": alert(a, Severity.HIGH, status=AlertStatus.ACKNOWLEDGED),
        "high_snoozed": alert(
            a, Severity.HIGH, status=AlertStatus.SNOOZED, snoozed_until=T0 + days(1)
        ),
        "warning": alert(a, Severity.WARNING, code=AlertCode.DELAYED_FUSION),
        "info": alert(a, Severity.INFO, code=AlertCode.MODALITY_MISMATCH),
        "urgent_resolved": alert(a, Severity.URGENT, status=AlertStatus.RESOLVED),
        "urgent_of_b": alert(b, Severity.URGENT),
        # checkpoints
        "overdue": checkpoint(a, due=-10),
        "overdue_workup": checkpoint(a, "cauda_equina", "workup", due=-1, grace=0.5),
        "in_grace": checkpoint(a, due=-2, grace=7),  # past due, not yet overdue: due now
        "overdue_satisfied": checkpoint(
            a, due=-10, satisfied_by=factories.exam(factories.patient(a)), late=True
        ),
        "overdue_waived": checkpoint(a, due=-10, waived_at=T0 - days(1), waived_reason="x"),
        "overdue_of_b": checkpoint(b, due=-10),
        "workup_in_12h": checkpoint(a, "cauda_equina", "workup", due=0.5, grace=0.25),
        "workup_in_3_days": checkpoint(a, "infection_signs", "workup", due=3, grace=1),
        "workup_of_b": checkpoint(b, "cauda_equina", "workup", due=0.5),
        "exam_in_5_days": checkpoint(a, due=5),
        "exam_opening_in_2_days": checkpoint(a, due=6, opens_at=T0 + days(2)),
        "exam_in_10_days": checkpoint(a, due=10),
        "milestone_in_3_days": checkpoint(a, "gadolinium_cutoff", "milestone", due=3, grace=0),
        "exam_of_b": checkpoint(b, due=5),
    }


@pytest.mark.parametrize("persona", ["staff_a", "viewer_a"])
def test_the_worklist_lists_what_needs_my_clinic_today(request, assorted, persona):
    response = browser_for(request.getfixturevalue(persona)).get(WORKLIST)

    assert response.status_code == 200
    listed = sections(response.content.decode())
    names = {row(target): name for name, target in assorted.items()}
    named = {heading: {names[r] for r in rows} for heading, rows in listed.items()}
    assert named == {
        ALERTS: {"urgent", "high_acknowledged", "high_snoozed"},
        OVERDUE: {"overdue", "overdue_workup"},
        WORKUPS: {"workup_in_12h"},
        THIS_WEEK: {"in_grace", "exam_in_5_days", "exam_opening_in_2_days"},
        **{key: set() for key in PROM_SECTIONS},  # tests/followup/proms/test_staff_side.py
    }


def test_the_worklist_puts_urgent_before_high_and_offers_acknowledge_only_when_useful(
    staff_a, assorted
):
    html = browser_for(staff_a).get(WORKLIST).content.decode()

    rows = re.findall(r'<tr class="alert-row severity-(\w+)" data-alert="(\d+)">(.*?)</tr>', html,
                      re.DOTALL)  # fmt: skip
    assert [severity for severity, _, _ in rows] == ["urgent", "high", "high"]
    button = {int(pk): "Acknowledge</button>" in cells for _, pk, cells in rows}
    assert button == {
        assorted["urgent"].pk: True,
        assorted["high_snoozed"].pk: True,
        assorted["high_acknowledged"].pk: False,
    }
    assert f'data-checkpoint="{assorted["overdue"].pk}"' in html
    assert "Reason to waive" in html


def test_a_staff_member_of_no_clinic_gets_an_empty_worklist(assorted, db):
    loner = get_user_model().objects.create_user("loner", password="x" * 20, is_staff=True)

    response = browser_for(loner).get(WORKLIST)

    assert response.status_code == 200
    assert all(not pks for pks in sections(response.content.decode()).values())


# --- acknowledge from the worklist ----------------------------------------------------


def acknowledge(browser: Client, target: Alert, next_url: str = WORKLIST):
    url = reverse("admin:worklist_acknowledge", args=[target.pk])
    return browser.post(url, {"next": next_url})


def test_acknowledging_from_the_worklist_records_who_and_when(staff_a, assorted, clock):
    clock.shift(timedelta(minutes=30))
    browser = browser_for(staff_a)

    response = acknowledge(browser, assorted["urgent"])

    assert (response.status_code, response["Location"]) == (302, WORKLIST)
    urgent = Alert.objects.get(pk=assorted["urgent"].pk)
    assert urgent.status == AlertStatus.ACKNOWLEDGED
    assert urgent.acknowledged_by == staff_a.user
    assert urgent.acknowledged_at == T0 + timedelta(minutes=30)
    page = browser.get(WORKLIST).content.decode()
    assert f"Acknowledged: {urgent.get_code_display()}." in page
    cells = re.search(rf'data-alert="{urgent.pk}">(.*?)</tr>', page, re.DOTALL).group(1)
    assert "<td>acknowledged</td>" in cells and "Acknowledge</button>" not in cells


def test_acknowledging_a_snoozed_alert_ends_the_snooze(staff_a, assorted):
    acknowledge(browser_for(staff_a), assorted["high_snoozed"])

    snoozed = Alert.objects.get(pk=assorted["high_snoozed"].pk)
    assert (snoozed.status, snoozed.snoozed_until) == (AlertStatus.ACKNOWLEDGED, None)


def test_acknowledging_a_resolved_alert_is_refused_with_a_message(staff_a, assorted):
    resolved = assorted["urgent_resolved"]

    browser = browser_for(staff_a)
    response = acknowledge(browser, resolved)

    assert response.status_code == 302
    assert Alert.objects.get(pk=resolved.pk).status == AlertStatus.RESOLVED
    page = browser.get(response["Location"]).content.decode()
    assert "An alert that is resolved cannot be changed this way." in page


@pytest.mark.parametrize(
    ("persona", "target"),
    [("viewer_a", "urgent"), ("staff_b", "urgent"), ("staff_a", "urgent_of_b")],
    ids=["viewer", "other-clinic-staff", "other-clinics-alert"],
)
def test_acknowledging_is_refused_to_a_viewer_and_across_clinics(
    request, assorted, persona, target
):
    before = Alert.objects.filter(pk=assorted[target].pk).values().get()

    response = acknowledge(browser_for(request.getfixturevalue(persona)), assorted[target])

    assert response.status_code == 404
    assert Alert.objects.filter(pk=assorted[target].pk).values().get() == before


def test_acknowledging_needs_a_post_and_a_login(staff_a, assorted):
    url = reverse("admin:worklist_acknowledge", args=[assorted["urgent"].pk])

    assert browser_for(staff_a).get(url).status_code == 405
    anonymous = Client().post(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert Alert.objects.get(pk=assorted["urgent"].pk).status == AlertStatus.OPEN


def test_acknowledging_never_redirects_off_site(staff_a, assorted):
    response = acknowledge(browser_for(staff_a), assorted["urgent"], "https://evil.example/")

    assert response.status_code == 302
    assert response["Location"] == WORKLIST


# --- waive from the worklist -----------------------------------------------------------


def waive(browser: Client, target: Checkpoint, reason: str):
    url = reverse("admin:worklist_waive", args=[target.pk])
    return browser.post(url, {"reason": reason, "next": WORKLIST}, follow=True)


@pytest.mark.parametrize("reason", ["", "   "], ids=["empty", "blank"])
def test_waiving_needs_a_reason(staff_a, assorted, reason):
    target = assorted["overdue"]

    response = waive(browser_for(staff_a), target, reason)

    assert response.status_code == 200
    assert "Give a reason to waive a checkpoint." in response.content.decode()
    target.refresh_from_db()
    assert (target.waived_at, target.waived_by, target.waived_reason) == (None, None, "")


def test_waiving_with_a_reason_closes_the_checkpoint_and_its_overdue_alert(staff_a, assorted):
    target = assorted["overdue"]
    overdue_alert = alert(
        staff_a.clinic, Severity.HIGH, AlertCode.CHECKPOINT_OVERDUE,
        surgery=target.surgery, checkpoint=target, subject=f"checkpoint:{target.pk}",
    )  # fmt: skip

    response = waive(browser_for(staff_a), target, "  Film done at another hospital  ")

    assert response.status_code == 200
    target.refresh_from_db()
    assert (target.waived_at, target.waived_by) == (T0, staff_a.user)
    assert target.waived_reason == "Film done at another hospital"
    overdue_alert.refresh_from_db()
    assert overdue_alert.status == AlertStatus.RESOLVED
    assert row(target) not in sections(response.content.decode())[OVERDUE]


@pytest.mark.parametrize("persona", ["viewer_a", "staff_b"])
def test_waiving_is_refused_to_a_viewer_and_to_another_clinic(request, assorted, persona):
    target = assorted["overdue"]

    url = reverse("admin:worklist_waive", args=[target.pk])
    response = browser_for(request.getfixturevalue(persona)).post(url, {"reason": "no"})

    assert response.status_code == 404
    target.refresh_from_db()
    assert target.waived_at is None


def test_a_milestone_cannot_be_waived(staff_a, assorted):
    milestone = assorted["milestone_in_3_days"]

    response = waive(browser_for(staff_a), milestone, "why not")

    assert "cannot be waived" in response.content.decode()
    milestone.refresh_from_db()
    assert milestone.waived_at is None


# --- the dashboard ---------------------------------------------------------------------


def settled(clinic, code: str, outcome: str) -> Checkpoint:
    """A past-due exam checkpoint whose outcome is known (a missed one is already overdue)."""
    surgery = new_surgery(clinic)
    fields = {}
    if outcome in ("on time", "late"):
        exam = factories.exam(surgery.patient, surgery)
        fields = {"satisfied_by": exam, "late": outcome == "late"}
    elif outcome == "waived":
        fields = {"waived_at": T0 - days(3), "waived_reason": "done elsewhere"}
    return checkpoint(clinic, code, due=-20, surgery=surgery, **fields)


COMPLETION = {
    ("baseline_film", "on time"): 2,
    ("baseline_film", "late"): 1,
    ("baseline_film", "missed"): 1,
    ("baseline_film", "waived"): 1,
    ("bridging_film", "late"): 1,
    ("bridging_film", "missed"): 3,
}
# (code, severity) -> alerts raised within the last 12 months
ALERTS_BY = {
    ("screw_misplaced", "urgent"): 2,
    ("screw_loosening", "high"): 3,
    ("screw_loosening", "warning"): 1,
    ("modality_mismatch", "info"): 2,
}
ACKNOWLEDGED_AFTER_DAYS = [1, 2, 4, 10]  # median 3.0 (percentile_cont interpolates)


@pytest.fixture
def clinic_history(staff_a, staff_b, clock):
    a, b = staff_a.clinic, staff_b.clinic
    for (code, outcome), n in COMPLETION.items():
        for _ in range(n):
            settled(a, code, outcome)
    # Not counted: still ahead, a milestone, a work-up, another clinic's.
    checkpoint(a, "fusion_assessment", due=30)
    checkpoint(a, "fusion_assessment", due=30, satisfied_by=factories.exam(factories.patient(a)))
    checkpoint(a, "gadolinium_cutoff", "milestone", due=-20, grace=0)
    checkpoint(a, "cauda_equina", "workup", due=-20)
    settled(b, "baseline_film", "missed")

    raised = []
    for (code, severity), n in ALERTS_BY.items():
        for i in range(n):
            clock.move_to(T0 - days(30 * (i + 1)))
            raised.append(alert(a, severity, code))
    clock.move_to(T0 - days(400))  # older than 12 months: out of both charts and the median
    alert(a, Severity.URGENT, AlertCode.ABSCESS, status=AlertStatus.ACKNOWLEDGED,
          acknowledged_at=T0 - days(300))  # fmt: skip
    clock.move_to(T0 - days(5))
    alert(b, Severity.URGENT, AlertCode.ABSCESS, status=AlertStatus.ACKNOWLEDGED,
          acknowledged_at=T0)  # fmt: skip
    clock.move_to(T0)
    for target, after in zip(raised, ACKNOWLEDGED_AFTER_DAYS, strict=False):
        Alert.objects.filter(pk=target.pk).update(
            status=AlertStatus.ACKNOWLEDGED, acknowledged_at=target.created_at + days(after)
        )


def bars(chart) -> dict[tuple[str, str], int]:
    """(row label, series) -> the number written in the bar's tooltip."""
    found = {}
    for bar in find(chart, "rect", "bar"):
        label, value, series = re.fullmatch(r"(.+): (\d+) (.+)", tooltip(bar)).groups()
        assert class_with(bar, "series-") == f"series-{series.replace(' ', '-')}"
        found[(label, series)] = int(value)
    return found


def test_the_dashboard_counts_checkpoint_outcomes_by_code(staff_a, clinic_history):
    response = browser_for(staff_a).get(DASHBOARD)

    assert response.status_code == 200
    assert response.context["completion"] == [
        {"code": "baseline_film", "on_time": 2, "late": 1, "missed": 1, "waived": 1},
        {"code": "bridging_film", "on_time": 0, "late": 1, "missed": 3, "waived": 0},
    ]
    completion_chart, _, _ = charts_in(response.content.decode())
    assert bars(completion_chart) == COMPLETION
    assert completion_chart.find("{*}desc").text == (
        "baseline_film: 2 on time, 1 late, 1 missed, 1 waived; "
        "bridging_film: 0 on time, 1 late, 3 missed, 0 waived"
    )


def test_the_dashboard_counts_a_years_alerts_by_code_and_severity(staff_a, clinic_history):
    response = browser_for(staff_a).get(DASHBOARD)

    _, alerts_chart, _ = charts_in(response.content.decode())
    assert bars(alerts_chart) == ALERTS_BY
    rows = [t.text for t in alerts_chart.iter(f"{NS}text")]
    assert "abscess" not in rows  # its only alert of clinic A is 400 days old
    assert rows.index("modality_mismatch") < rows.index("screw_loosening")


def test_the_dashboard_shows_the_median_days_to_acknowledge(staff_a, clinic_history):
    response = browser_for(staff_a).get(DASHBOARD)

    assert response.context["median_days_to_acknowledge"] == pytest.approx(3.0)
    median = re.search(r'<p class="median">.*?<strong>(.*?)</strong>', response.content.decode(),
                       re.DOTALL).group(1)  # fmt: skip
    assert median == "3.0"


def test_the_dashboard_without_data_says_so(staff_a):
    response = browser_for(staff_a).get(DASHBOARD)

    html = response.content.decode()
    assert "no acknowledged alert yet" in html
    assert [c.find("{*}desc").text for c in charts_in(html)] == ["No data."] * 3


def test_the_dashboard_shows_the_patients_by_their_years_dose(staff_a, clinic_a):
    now = timezone.now()
    for doses in ([], ["0.5"], ["3", "4"], ["12"], ["15", "6"], ["30"]):
        patient = factories.patient(clinic_a)
        for n, dose in enumerate(doses):
            factories.exam(patient, modality="CT", effective_dose_msv=Decimal(dose),
                           performed_at=now - timedelta(days=10 + n))  # fmt: skip
    old = factories.patient(clinic_a)  # a dose of 400 days ago is out of the window
    factories.exam(old, modality="CT", effective_dose_msv=Decimal("50"),
                   performed_at=now - timedelta(days=400))  # fmt: skip

    _, _, dose_chart = charts_in(browser_for(staff_a).get(DASHBOARD).content.decode())

    assert dose_chart.find("{*}desc").text == (
        "none recorded: 2 patients; 0 to 1 mSv: 1 patients; 1 to 5 mSv: 0 patients; "
        "5 to 10 mSv: 1 patients; 10 to 20 mSv: 1 patients; above 20 mSv: 2 patients"
    )


def test_the_charts_are_well_formed_accessible_svg(staff_a, clinic_history):
    html = browser_for(staff_a).get(DASHBOARD).content.decode()

    charts = charts_in(html)  # parse() fails on ill-formed XML
    assert len(charts) == 3 == html.count('class="chart"')
    for chart in charts:
        assert chart.get("role") == "img"
        assert chart.find("{*}title").text
        assert "chart" in classes(chart)


def test_another_clinics_staff_see_only_their_own_numbers(staff_a, staff_b, clinic_history):
    browser = browser_for(staff_b)

    own = browser.get(DASHBOARD)
    assert own.context["clinic"] == staff_b.clinic
    assert own.context["completion"] == [
        {"code": "baseline_film", "on_time": 0, "late": 0, "missed": 1, "waived": 0}
    ]
    assert own.context["median_days_to_acknowledge"] == pytest.approx(5.0)

    asking_for_a = browser.get(f"{DASHBOARD}?clinic={staff_a.clinic.pk}")
    assert asking_for_a.status_code == 200
    assert "completion" not in asking_for_a.context
    assert "baseline_film: 2 on time" not in asking_for_a.content.decode()


def test_the_dashboard_answers_a_malformed_clinic_choice(staff_a, clinic_history):
    response = browser_for(staff_a).get(f"{DASHBOARD}?clinic=not-a-number")

    assert response.status_code == 200
    assert response.context["clinic"] == staff_a.clinic


def test_the_dashboard_needs_a_login(db):
    response = Client().get(DASHBOARD)
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- constant query counts ---------------------------------------------------------------


def queries(browser: Client, url: str) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = browser.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured), response


def warm_up(browser: Client, *urls: str) -> None:
    """One request first, not counted: it fills the process's caches (content types), which
    an earlier transactional test may have emptied. In a test, everything is one transaction,
    so it also leaves the request's pghistory context (its user) on the rows added after it:
    the 1-row and the 50-row pages then show the same kind of audit trail."""
    for url in urls:
        assert browser.get(url).status_code == 200, url


def test_the_worklist_reads_a_constant_number_of_queries(staff_a):
    a = staff_a.clinic

    def add(n: int) -> None:
        for _ in range(n):
            alert(a, Severity.URGENT)
            checkpoint(a, due=-10)
            checkpoint(a, "cauda_equina", "workup", due=0.5)
            checkpoint(a, due=5)

    warm_up(browser_for(staff_a), WORKLIST)
    add(1)
    one, response = queries(browser_for(staff_a), WORKLIST)
    assert {k: len(v) for k, v in sections(response.content.decode()).items()} == dict.fromkeys(
        (ALERTS, OVERDUE, WORKUPS, THIS_WEEK), 1
    ) | dict.fromkeys(PROM_SECTIONS, 0)
    add(49)
    fifty, response = queries(browser_for(staff_a), WORKLIST)
    assert {k: len(v) for k, v in sections(response.content.decode()).items()} == dict.fromkeys(
        (ALERTS, OVERDUE, WORKUPS, THIS_WEEK), 50
    ) | dict.fromkeys(PROM_SECTIONS, 0)
    assert fifty == one


def test_the_dashboard_reads_a_constant_number_of_queries(staff_a, staff_b):
    a = staff_a.clinic
    codes = ["baseline_film", "bridging_film", "fusion_assessment"]
    outcomes = ["on time", "late", "missed", "waived"]

    def add(n: int) -> None:
        for i in range(n):
            settled(a, codes[i % 3], outcomes[i % 4])
            alert(a, Severity.HIGH, AlertCode.SCREW_LOOSENING, status=AlertStatus.ACKNOWLEDGED,
                  acknowledged_at=T0 + days(1))  # fmt: skip

    warm_up(browser_for(staff_a), DASHBOARD)
    add(1)
    one, _ = queries(browser_for(staff_a), DASHBOARD)
    add(49)
    fifty, response = queries(browser_for(staff_a), DASHBOARD)
    completion_chart, alerts_chart, _ = charts_in(response.content.decode())
    assert sum(bars(completion_chart).values()) == sum(bars(alerts_chart).values()) == 50
    assert fifty == one


# Each adds n rows that the page lists, with the related rows the list displays.


def add_patients(clinic, n: int, **_) -> None:
    for _ in range(n):
        patient = factories.patient(clinic, transitional_variant="L6")
        PatientIdentifier.objects.create(patient=patient, system="urn:ehr", value=patient.mrn)


def add_surgeries(clinic, n: int, **_) -> None:
    for _ in range(n):
        new_surgery(clinic)


def add_exams(clinic, n: int, **_) -> None:
    for _ in range(n):
        surgery = new_surgery(clinic)
        factories.exam(surgery.patient, surgery, findings=[
            {"code": "bridging", "value": "partial", "level": "L4-L5"}])  # fmt: skip


def add_checkpoints(clinic, n: int, **_) -> None:
    for _ in range(n):
        surgery = new_surgery(clinic)
        exam = factories.exam(surgery.patient, surgery)
        checkpoint(clinic, surgery=surgery, satisfied_by=exam, due=-5)


def add_alerts(clinic, n: int, **_) -> None:
    for _ in range(n):
        surgery = new_surgery(clinic)
        exam = factories.exam(surgery.patient, surgery)
        alert(clinic, surgery=surgery, exam=exam, checkpoint=checkpoint(clinic, surgery=surgery))


def add_events(clinic, n: int, **_) -> None:
    for _ in range(n):
        surgery = new_surgery(clinic)
        ClinicalEvent.objects.create(
            patient=surgery.patient, surgery=surgery, code="new_radicular_pain",
            occurred_at=T0 - days(1),
        )  # fmt: skip


def add_assessments(clinic, n: int, **_) -> None:
    for _ in range(n):
        surgery = new_surgery(clinic)
        Assessment.objects.create(
            patient=surgery.patient, surgery=surgery, assessed_at=T0 - days(1), nrs_back=4, odi=30
        )


def add_emails(clinic, n: int, user, **_) -> None:
    for _ in range(n):
        Email.objects.create(
            key=f"urgent:{next(_serial)}", kind="urgent", clinic=clinic, user=user,
            recipient="alice@example.org", alert=alert(clinic), next_attempt_at=T0,
        )  # fmt: skip


def add_webhooks(clinic, n: int, **_) -> None:
    for _ in range(n):
        endpoint = WebhookEndpoint.objects.create(
            clinic=clinic, url=f"https://ehr.example/hooks/{next(_serial)}"
        )
        WebhookDelivery.objects.create(
            endpoint=endpoint, event_id=1, alert_id=1, event_type="alert.raised", attempt=1,
            status_code=200, delivered=True, at=T0,
        )  # fmt: skip


def add_api_requests(clinic, n: int, **_) -> None:
    for _ in range(n):
        client, _token = ApiClient.issue(clinic, f"EHR {next(_serial)}")
        ApiRequest.objects.create(client=client, method="GET", endpoint="/api/v1/patients/",
                                  status=200, duration_ms=12, at=T0)  # fmt: skip


def add_api_clients(clinic, n: int, **_) -> None:
    for _ in range(n):
        ApiClient.issue(clinic, f"EHR {next(_serial)}")


def add_protocols(clinic, n: int, user, **_) -> None:
    for _ in range(n):
        Protocol.objects.create(family="fusion", clinic=clinic, name="Ours", created_by=user)


def add_thresholds(clinic, n: int, user, **_) -> None:
    for _ in range(n):
        Thresholds.objects.create(clinic=clinic, created_by=user)


def add_subscriptions(clinic, n: int, **_) -> None:
    for _ in range(n):
        Subscription.objects.create(user=make_staff(f"sub{next(_serial)}", clinic), clinic=clinic)


ADMIN_LISTS: list[tuple[str, Callable, bool]] = [
    ("/admin/patients/patient/", add_patients, False),
    ("/admin/patients/surgery/", add_surgeries, False),
    ("/admin/imaging/imagingexam/", add_exams, False),
    ("/admin/followup/checkpoint/", add_checkpoints, False),
    ("/admin/followup/alert/", add_alerts, False),
    ("/admin/patients/clinicalevent/", add_events, False),
    ("/admin/patients/assessment/", add_assessments, False),
    ("/admin/followup/email/", add_emails, False),
    ("/admin/followup/webhookendpoint/", add_webhooks, False),
    ("/admin/patients/apirequest/", add_api_requests, False),
    ("/admin/patients/apiclient/", add_api_clients, False),
    ("/admin/followup/protocol/", add_protocols, False),
    ("/admin/followup/thresholds/", add_thresholds, False),
    # A staff member sees only their own settings: a superuser sees everyone's.
    ("/admin/followup/subscription/", add_subscriptions, True),
]
LIST_IDS = [url.split("/")[-2] for url, *_ in ADMIN_LISTS]


@pytest.mark.parametrize(("url", "add_rows", "as_superuser"), ADMIN_LISTS, ids=LIST_IDS)
def test_each_admin_list_reads_the_same_number_of_queries_for_1_and_50_rows(
    staff_a, staff_b, url, add_rows, as_superuser
):
    user = staff_a.user
    if as_superuser:
        user = get_user_model().objects.create_superuser("root", password="x" * 20)
    browser = browser_for(user)
    add_rows(staff_b.clinic, 3, user=staff_b.user)  # another clinic's rows change nothing
    warm_up(browser, url)
    add_rows(staff_a.clinic, 1, user=staff_a.user)
    one, response = queries(browser, url)
    rows_one = len(response.context["cl"].result_list)

    add_rows(staff_a.clinic, 49, user=staff_a.user)
    fifty, response = queries(browser, url)
    rows_fifty = len(response.context["cl"].result_list)

    page_size = response.context["cl"].list_per_page
    assert rows_fifty == min(rows_one + 49, page_size), (rows_one, rows_fifty)
    assert fifty == one


def test_the_patient_and_surgery_pages_read_the_same_queries_for_1_and_50_rows_inline(staff_a):
    """Their inlines list exams, events, assessments and checkpoints; the picture draws all."""
    browser = browser_for(staff_a)
    surgery = new_surgery(staff_a.clinic)
    patient = surgery.patient
    pages = [f"/admin/patients/patient/{patient.pk}/change/",
             f"/admin/patients/surgery/{surgery.pk}/change/"]  # fmt: skip

    def add(n: int) -> None:
        for _ in range(n):
            exam = factories.exam(patient, surgery, performed_at=T0 - days(10))
            ClinicalEvent.objects.create(
                patient=patient, surgery=surgery, code="new_radicular_pain",
                occurred_at=T0 - days(1),
            )  # fmt: skip
            Assessment.objects.create(
                patient=patient, surgery=surgery, assessed_at=T0 - days(1), nrs_back=4
            )
            checkpoint(staff_a.clinic, f"c{next(_serial)}", surgery=surgery, satisfied_by=exam)
            alert(staff_a.clinic, surgery=surgery, exam=exam)

    warm_up(browser, *pages)
    add(1)
    one = [queries(browser, url)[0] for url in pages]
    add(49)
    fifty = [queries(browser, url)[0] for url in pages]
    assert fifty == one


def test_the_inline_rows_sharing_their_choices_still_refuse_another_clinics_surgery(
    staff_a, staff_b
):
    ours, theirs = new_surgery(staff_a.clinic), new_surgery(staff_b.clinic)
    request = RequestFactory().get("/")
    request.user = staff_a.user
    FormSet = ClinicalEventInline(Patient, admin.site).get_formset(request, ours.patient)
    prefix = FormSet.get_default_prefix()

    def formset(surgery):
        return FormSet({
            f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-0-occurred_at_0": "2026-03-01", f"{prefix}-0-occurred_at_1": "08:00:00",
            f"{prefix}-0-code": "new_radicular_pain", f"{prefix}-0-surgery": str(surgery.pk),
        }, instance=ours.patient, prefix=prefix)  # fmt: skip

    assert formset(ours).is_valid(), formset(ours).errors
    refused = formset(theirs)
    assert not refused.is_valid()
    assert "surgery" in refused.errors[0]
    offered = [value for value, _ in refused.forms[0].fields["surgery"].choices if value]
    assert [str(v) for v in offered] == [str(ours.pk)]


def test_the_clinic_choice_needs_no_inline_script(staff_a):
    """The Content-Security-Policy allows no inline script: a button submits the choice."""
    html = browser_for(staff_a).get(DASHBOARD).content.decode()

    form = html.split('<div id="dashboard">', 1)[1].split("</form>", 1)[0]
    assert not re.search(r"\son\w+=", form)
    assert '<button type="submit">Show</button>' in form
