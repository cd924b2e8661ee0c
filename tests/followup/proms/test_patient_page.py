"""The patient's page with Django's test client: every screen answered, the Assessment
written, the recurrence rule fired on the patient's own scores; links tampered with,
guessed, used or expired refused with one and the same page; no id in any URL."""

import time_machine
from django.test import Client

from followup.delivery import invitations
from followup.models import Checkpoint, PromInvitation
from followup.pipeline import refresh
from patients.models import Assessment, ClinicalEvent

from .helpers import day, operated, time_point


def invite(surgery, code="prom_6w", at=None) -> tuple[PromInvitation, str]:
    """An invitation and the path of a fresh link, as mailing would mint it."""
    checkpoint = time_point(surgery, code)
    invitation = PromInvitation.objects.create(
        checkpoint=checkpoint, clinic_id=checkpoint.clinic_id, patient_id=checkpoint.patient_id,
        language=checkpoint.patient.preferred_language, expires_at=checkpoint.due_at,
    )  # fmt: skip
    return invitation, invitations.mint_link(invitation).split("://", 1)[1].split("/", 1)[1]


def answer_all(browser: Client, values: dict[str, int]) -> list[str]:
    """Answer each screen with the value for its question's first word; returns the
    questions asked, in order."""
    asked = []
    while True:
        page = browser.get("/p/")
        if page.status_code != 200:
            return asked
        html = page.content.decode()
        position = int(html.split('name="position" value="', 1)[1].split('"', 1)[0])
        question = html.split("<h1>", 1)[1].split("</h1>", 1)[0]
        asked.append(question)
        value = next(v for key, v in values.items() if key in question)
        done = browser.post("/p/", {"position": position, "answer": value})
        assert done.status_code == 302
        if done["Location"] == "/p/thanks/":
            return asked


def test_every_screen_answered_writes_the_assessment_and_answers_the_time_point(protocols, paris):
    patient, surgery = operated(paris)
    browser = Client()
    with time_machine.travel(day(40), tick=False):
        invitation, path = invite(surgery)
        assert browser.get(f"/{path}")["Location"] == "/p/"
        asked = answer_all(browser, {"back pain": 2, "leg": 1, "Compared": 1})
        thanks = browser.get("/p/thanks/")
    assert len(asked) == 3  # NRS back, NRS leg, global rating: the ODI has no texts loaded
    assert "Thank you" in thanks.content.decode()
    invitation.refresh_from_db()
    assessment = Assessment.objects.get(patient=patient)
    assert (assessment.nrs_back, assessment.nrs_leg, assessment.odi) == (2, 1, None)
    assert invitation.completed_at and invitation.assessment == assessment
    assert invitation.answers == {"nrs_back": {"nrs_back": 2}, "nrs_leg": {"nrs_leg": 1},
                                  "grc": {"grc": 1}}  # fmt: skip
    refresh.refresh(surgery.pk, day(40))
    assert Checkpoint.objects.get(pk=invitation.checkpoint_id).answered_by == assessment
    # The link cannot be used again, nor the session.
    assert browser.get(f"/{path}").status_code == 404
    assert browser.get("/p/").status_code == 404


def test_the_patients_own_scores_fire_the_recurrence_rule(protocols, paris):
    patient, surgery = operated(paris)
    for at, code, back in ((day(40), "prom_6w", 2), (day(100), "prom_3m", 6)):
        with time_machine.travel(at, tick=False):
            _, path = invite(surgery, code)
            browser = Client()
            browser.get(f"/{path}")
            answer_all(browser, {"back pain": back, "leg": 1, "Compared": 3})
            refresh.refresh(surgery.pk, at)
    event = ClinicalEvent.objects.get(patient=patient, code="pain_recurrence")
    assert event.source == "detected"
    assert Checkpoint.objects.filter(event=event, kind="workup").exists()


def test_going_back_and_progress_saved_across_sessions(protocols, paris):
    _, surgery = operated(paris)
    with time_machine.travel(day(40), tick=False):
        _, path = invite(surgery)
        first = Client()
        first.get(f"/{path}")
        first.post("/p/", {"position": 0, "answer": 5})
        first.post("/p/", {"position": 1, "back": ""})
        assert 'value="5" checked' in first.get("/p/").content.decode()
        first.post("/p/", {"position": 0, "answer": 4})
        first.post("/p/", {"position": 0, "answer": 9})  # a double click: ignored
        # Another e-mail's link, another day: the questionnaire goes on where it was.
        _, again = PromInvitation.objects.get(), invitations.mint_link(PromInvitation.objects.get())
        second = Client()
        second.get("/" + again.split("://", 1)[1].split("/", 1)[1])
        html = second.get("/p/").content.decode()
    assert "Question 2 of 3" in html
    assert PromInvitation.objects.get().answers == {"nrs_back": {"nrs_back": 4}}


def test_no_answer_or_a_value_not_offered_is_refused_and_saves_nothing(protocols, paris):
    _, surgery = operated(paris)
    with time_machine.travel(day(40), tick=False):
        _, path = invite(surgery)
        browser = Client()
        browser.get(f"/{path}")
        missing = browser.post("/p/", {"position": 0})
        off_scale = browser.post("/p/", {"position": 0, "answer": 11})
    assert missing.status_code == 400 and 'role="alert"' in missing.content.decode()
    assert off_scale.status_code == 400
    assert PromInvitation.objects.get().answers == {}


def test_a_french_patient_reads_french(protocols, paris):
    _, surgery = operated(paris, language="fr")
    with time_machine.travel(day(40), tick=False):
        _, path = invite(surgery)
        browser = Client()
        browser.get(f"/{path}")
        html = browser.get("/p/").content.decode()
    assert '<html lang="fr">' in html
    assert "Question 1 sur 3" in html and "douleur au dos" in html and "Suivant" in html


def test_tampered_guessed_used_and_expired_links_get_one_and_the_same_page(protocols, paris):
    _, surgery = operated(paris)
    with time_machine.travel(day(40), tick=False):
        invitation, path = invite(surgery)
        secret, signature = path.rstrip("/").split("/")[-1].split(":")
        tampered = f"/p/{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}:{signature}/"
        forged = f"/p/{secret}:{'x' * len(signature)}/"
        guessed = "/p/" + invitations.SIGNER.sign("a-guess-with-a-valid-signature") + "/"
        unsigned = f"/p/{secret}/"
        pages = {name: Client().get(url) for name, url in
                 [("tampered", tampered), ("forged", forged), ("guessed", guessed),
                  ("unsigned", unsigned)]}  # fmt: skip
    with time_machine.travel(surgery.performed_at.replace(year=2027), tick=False):
        pages["expired"] = Client().get(f"/{path}")
    invitation.completed_at = day(40)
    invitation.save()
    with time_machine.travel(day(40), tick=False):
        pages["used"] = Client().get(f"/{path}")
    bodies = {name: (page.status_code, page.content) for name, page in pages.items()}
    assert len(set(bodies.values())) == 1, bodies.keys()
    status, body = bodies["used"]
    assert status == 404 and b"This link cannot be used" in body


def test_the_pages_without_a_session_reach_nothing(protocols, paris):
    _, surgery = operated(paris)
    invite(surgery)
    with time_machine.travel(day(40), tick=False):
        assert Client().get("/p/").status_code == 404
        assert Client().post("/p/", {"position": 0, "answer": 3}).status_code == 404
    assert PromInvitation.objects.get().answers == {}


def test_opening_links_is_rate_limited_per_address(protocols, paris, settings):
    from django.core.cache import cache

    cache.clear()
    settings.PROM_LINK_RATE = 3
    browser = Client(REMOTE_ADDR="192.0.2.7")
    codes = [browser.get(f"/p/guess{n}:x/").status_code for n in range(5)]
    assert codes == [404, 404, 404, 429, 429]
    assert Client(REMOTE_ADDR="192.0.2.8").get("/p/guess:x/").status_code == 404
    cache.clear()


def test_posting_answers_is_rate_limited_per_address(protocols, paris, settings):
    from django.core.cache import cache

    cache.clear()
    settings.PROM_ANSWER_RATE = 2
    _, surgery = operated(paris)
    with time_machine.travel(day(40), tick=False):
        _, path = invite(surgery)
        browser = Client(REMOTE_ADDR="192.0.2.9")
        browser.get(f"/{path}")
        posts = [{"position": 0, "answer": 5}, {"position": 1, "back": ""},
                 {"position": 0, "answer": 3}]  # fmt: skip
        assert [browser.post("/p/", post).status_code for post in posts] == [302, 302, 429]
        assert browser.get("/p/").status_code == 200  # reading the page is not an answer
    # The refused post changed nothing: the first answer stands.
    assert PromInvitation.objects.get().answers == {"nrs_back": {"nrs_back": 5}}
    cache.clear()
