"""The patient's questionnaire in a real browser, from a real e-mail.

A patient operated 100 days ago, with a pain-free score recorded at 6 weeks, receives the
3-month invitation through the outbox and a real SMTP server (aiosmtpd); Debian's
Chromium, driven by Playwright, opens the link from the captured message and answers
every screen (once with the mouse, once with the keyboard only). axe-core checks each
screen: no serious or critical violation. Then the Assessment is there, the time point
answered, the pain-recurrence rule fired on the patient's own score, and the link refused
when used again.

axe-core is an npm package of the project (package.json, installed by `make test` with
`npm ci`): a missing copy fails the test rather than skipping it.
"""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright

from followup.delivery import mailing
from followup.models import Checkpoint, PromInvitation
from followup.pipeline import refresh
from patients.models import Assessment, ClinicalEvent
from tests import factories

from ..conftest_mail import smtp_server  # noqa: F401 (a fixture)
from ..proms.helpers import link_in
from .test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def require_axe() -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make test does).", pytrace=False)


def axe_violations(page: Page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
               .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)}))"""
    )


def invited(clinic, smtp, live_server, now, language="en") -> tuple[int, int, str]:
    """A fusion 100 days ago, back pain 2 at 6 weeks; the 3-month invitation sent."""
    patient = factories.patient(clinic, email="patient@example.net", prom_consent=True,
                                preferred_language=language)  # fmt: skip
    surgery = factories.surgery(patient, now - timedelta(days=100), procedure="tlif")
    Assessment.objects.create(patient=patient, surgery=surgery,
                              assessed_at=now - timedelta(days=58), nrs_back=2)  # fmt: skip
    refresh.refresh(surgery.pk, now)
    mailing.queue_proms(now)
    assert mailing.deliver(now, mailing.PROMS) == 1
    [message] = smtp.received_by(patient.email)
    return patient.pk, surgery.pk, link_in(message)


@pytest.fixture
def quiet(monkeypatch, settings, live_server):
    monkeypatch.setattr("followup.pipeline.refresh.nudge", lambda task, *args: None)
    settings.SITE_URL = live_server.url


@pytest.mark.parametrize("keyboard_only", [False, True], ids=["pointer", "keyboard"])
def test_a_patient_answers_from_the_e_mail_and_the_recurrence_rule_fires(
    live_server, protocols, instruments, paris, smtp, quiet, keyboard_only
):
    require_chromium()
    require_axe()
    now = timezone.now()
    patient_id, surgery_id, link = invited(paris, smtp, live_server, now)
    answers = {"back pain": 7, "leg": 3, "Compared": 4}
    seen, violations = [], {}
    # No ORM call inside this block (Playwright's event loop runs in this thread).
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            # axe-core is injected by the test: the page's CSP (script-src 'self') would
            # refuse it, and the page itself runs no script at all.
            context = browser.new_context(viewport={"width": 390, "height": 844},
                                          bypass_csp=True)  # fmt: skip
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(link)
            expect(page).to_have_url(f"{live_server.url}/p/")  # the token left the address bar
            while "/thanks/" not in page.url:
                question = page.locator("legend h1").inner_text()
                seen.append((page.locator("#progress").inner_text(), question))
                violations[question] = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
                value = next(v for key, v in answers.items() if key in question)
                with page.expect_navigation():
                    if keyboard_only:
                        answer_with_the_keyboard(page, value)
                    else:
                        page.locator(f"label[for='answer-{value}']").click()
                        page.get_by_role("button", name="Next").or_(
                            page.get_by_role("button", name="Send my answers")
                        ).click()
            expect(page.locator("h1")).to_have_text("Thank you")
            violations["thanks"] = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
            page.screenshot(path=ARTIFACTS / f"prom-thanks-{keyboard_only}.png")

            page.goto(link)  # the same link again
            expect(page.locator("h1")).to_have_text("This link cannot be used")
            violations["unavailable"] = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
        finally:
            browser.close()

    assert [progress for progress, _ in seen] == [
        "Question 1 of 3", "Question 2 of 3", "Question 3 of 3"
    ]  # fmt: skip
    assert violations == {q: [] for q in violations}, violations
    assessment = Assessment.objects.get(patient_id=patient_id, nrs_back=7)
    assert assessment.nrs_leg == 3
    assert PromInvitation.objects.get(patient_id=patient_id).assessment == assessment
    refresh.refresh(surgery_id, timezone.now())
    assert Checkpoint.objects.get(surgery_id=surgery_id, code="prom_3m").answered_by == assessment
    event = ClinicalEvent.objects.get(patient_id=patient_id, code="pain_recurrence")
    assert event.recurrence_assessment == assessment


def answer_with_the_keyboard(page: Page, value: int) -> None:
    """Tab into the radio group, Space to choose the first option, arrows to the value,
    Tab to the button, Enter: no pointer at all."""
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "answer":
            break
    else:
        raise AssertionError("the answers cannot be reached with Tab")
    page.keyboard.press("Space")
    first = int(page.evaluate("document.activeElement.value"))
    for _ in range(value - first):
        page.keyboard.press("ArrowRight")
    assert page.evaluate("document.querySelector('input[name=answer]:checked').value") == str(value)
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('next')"):
            break
    else:
        raise AssertionError("the Next button cannot be reached with Tab")
    # A visible focus ring, for a keyboard user to see where they are.
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")


def test_the_french_screens_pass_axe_too(live_server, protocols, instruments, paris, smtp, quiet):
    require_chromium()
    require_axe()
    _, _, link = invited(paris, smtp, live_server, timezone.now(), language="fr")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_context(bypass_csp=True).new_page()
            page.goto(link)
            expect(page.locator("html")).to_have_attribute("lang", "fr")
            expect(page.locator("#progress")).to_have_text("Question 1 sur 3")
            blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
        finally:
            browser.close()
    assert blocking == []
