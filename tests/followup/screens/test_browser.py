"""The staff screens in a real browser: Debian's headless Chromium driven by Playwright.

A clinician logs in through the admin's form, acknowledges an urgent alert from the
worklist, opens the patient and finds the follow-up picture; screenshots are kept in
test-artifacts/ (git-ignored). `make test` installs Chromium when it is missing, so a
missing browser fails this test rather than skipping it.
"""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright

from followup.models import Alert, AlertStatus, Checkpoint, CheckpointKind
from followup.pipeline import refresh
from imaging.models import ImagingExam
from patients.models import Assessment, Clinic, ClinicalEvent, Membership, Role
from tests import factories
from tests.conftest import make_staff

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
PASSWORD = "a-long-test-password"  # tests.conftest.make_staff's


@dataclass
class Ward:
    """What the browser is expected to find, counted in the database beforehand."""

    username: str
    alert: Alert
    workup: Checkpoint
    patient_reference: str
    exams: int
    bands: int


def require_chromium() -> None:
    """A failure, not a skip: a browser test that silently never runs protects nothing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. `make test` "
            "installs it; by hand: apt-get update && apt-get install -y chromium",
            pytrace=False,
        )


@pytest.fixture
def ward(live_server, protocols, monkeypatch) -> Ward:
    """A clinician of two clinics; in the first, a fusion whose CT shows a screw in the canal."""
    # No Celery here.
    monkeypatch.setattr("followup.pipeline.refresh.nudge", lambda task, *args: None)
    clinic = Clinic.objects.create(slug="lyon", name="Lyon", timezone="Europe/Paris")
    other = Clinic.objects.create(slug="nice", name="Nice", timezone="Europe/Paris")
    staff = make_staff("claire", clinic)
    Membership.objects.create(user=staff, clinic=other, role=Role.CLINICIAN)

    now = timezone.now()
    day0 = now - timedelta(days=100)
    patient = factories.patient(clinic, family_name="Martin", given_name="Lea")
    surgery = factories.surgery(patient, day0, procedure="tlif", levels=["L4-L5"])
    factories.exam(patient, surgery, modality="XR", performed_at=day0 + timedelta(days=7))
    factories.exam(
        patient, surgery, modality="CT", performed_at=day0 + timedelta(days=95),
        findings=[{"code": "screw_in_canal", "value": True, "level": "L5", "side": "left"}],
    )  # fmt: skip
    Assessment.objects.create(
        patient=patient, surgery=surgery, assessed_at=day0 + timedelta(days=30), nrs_back=5
    )
    event = ClinicalEvent.objects.create(  # its work-up is due within 6 hours
        patient=patient, surgery=surgery, code="cauda_equina", occurred_at=now - timedelta(hours=2)
    )
    refresh.refresh(surgery.pk, now)

    alert = Alert.objects.get(surgery=surgery, code="screw_misplaced")
    assert alert.severity == "urgent" and alert.status == AlertStatus.OPEN
    windows = Checkpoint.objects.filter(
        surgery=surgery, kind__in=[CheckpointKind.EXAM, CheckpointKind.WORKUP]
    )
    return Ward(
        username=staff.username,
        alert=alert,
        workup=Checkpoint.objects.get(event=event),
        patient_reference=patient.reference,
        exams=ImagingExam.objects.filter(surgery=surgery).count(),
        bands=windows.count(),
    )


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def test_a_clinician_acknowledges_an_alert_and_reads_the_patients_timeline(live_server, ward):
    require_chromium()
    # No ORM call inside this block: Playwright's sync API runs an event loop in this
    # thread, where Django refuses synchronous database access.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)

            # Log in through the admin's own form.
            page.goto(f"{live_server.url}/admin/")
            expect(page).to_have_url(f"{live_server.url}/admin/login/?next=/admin/")
            page.fill("#id_username", ward.username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")

            # The worklist is the landing page, with the urgent alert and its button.
            expect(page.locator("#worklist")).to_be_visible()
            row = page.locator(f"tr.alert-row[data-alert='{ward.alert.pk}']")
            expect(row).to_contain_text("URGENT")
            expect(row).to_contain_text("open")
            shoot(page, "1-worklist")

            row.get_by_role("button", name="Acknowledge").click()
            expect(page.locator("ul.messagelist")).to_contain_text("Acknowledged:")
            expect(row).to_contain_text("acknowledged")
            expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)
            shoot(page, "2-worklist-acknowledged")

            # Waiving the work-up due today takes a reason: the browser asks for one first.
            workup = page.locator(f"tr.checkpoint-row[data-checkpoint='{ward.workup.pk}']")
            expect(workup).to_contain_text("Cauda equina syndrome work-up")
            workup.get_by_role("button", name="Waive").click()
            expect(workup.get_by_role("textbox")).to_have_js_property("validity.valueMissing", True)
            workup.get_by_role("textbox").fill("Seen in the emergency room: MR done there")
            workup.get_by_role("button", name="Waive").click()
            expect(page.locator("ul.messagelist")).to_contain_text("Waived:")
            expect(workup).to_have_count(0)

            # The patient's page draws the fusion's follow-up.
            row.get_by_role("link", name=ward.patient_reference).click()
            picture = page.locator("svg.followup-picture")
            expect(picture).to_have_count(1)
            expect(picture.locator("circle.exam")).to_have_count(ward.exams)
            expect(picture.locator("rect.band")).to_have_count(ward.bands)
            expect(picture.locator("polygon.alert.severity-urgent")).to_have_count(1)
            picture.scroll_into_view_if_needed()
            shoot(page, "3-patient")
            picture.screenshot(path=ARTIFACTS / "4-timeline.png")

            # The dashboard's clinic choice works under the CSP (no inline script).
            page.goto(f"{live_server.url}/admin/dashboard/")
            # Checkpoints, alerts, and the dose distribution of the clinic's patients.
            expect(page.locator("svg.chart")).to_have_count(3)
            page.select_option("#clinic", label="Nice")
            page.get_by_role("button", name="Show").click()
            expect(page.locator("#clinic option:checked")).to_have_text("Nice")
            shoot(page, "5-dashboard")
        finally:
            browser.close()

    ward.alert.refresh_from_db()
    assert ward.alert.status == AlertStatus.ACKNOWLEDGED
    assert ward.alert.acknowledged_by.username == ward.username
    ward.workup.refresh_from_db()
    assert ward.workup.waived_reason == "Seen in the emergency room: MR done there"
    assert {p.name for p in ARTIFACTS.glob("*.png")} >= {
        "1-worklist.png", "2-worklist-acknowledged.png", "3-patient.png", "4-timeline.png",
        "5-dashboard.png",
    }  # fmt: skip
