"""Staff see the patients' questionnaires: due, missed, answered worse, proposed as lost on
the worklist; the capture rate per time point on the dashboard; the scores and PROM
windows under the imaging in the picture."""

import time_machine
from django.test import Client

from followup.admin.site import dashboard, prom_rows
from followup.models import OutcomeStandards, PromInvitation
from followup.pipeline import refresh
from followup.reads import picture, timeline
from patients.models import Assessment, Role
from tests.conftest import make_staff

from .helpers import day, operated, time_point


def readable(clinic):
    return frozenset({clinic.pk})


def test_worklist_shows_due_missed_and_worse_answers(protocols, paris):
    patient, surgery = operated(paris)
    Assessment.objects.create(patient=patient, surgery=surgery, assessed_at=day(40), nrs_back=2,
                              nrs_leg=1, odi=20)  # fmt: skip
    with time_machine.travel(day(80), tick=False):
        worse = Assessment.objects.create(patient=patient, surgery=surgery, assessed_at=day(80),
                                          nrs_back=6, nrs_leg=2, odi=34)  # fmt: skip
        refresh.refresh(surgery.pk, day(80))
        rows = prom_rows(readable(paris), day(80))
        # Worse by at least the clinic's MCID: NRS +4 (MCID 2) is; ODI +14 (MCID 15) is not
        assert rows["proms_worse"] == [(worse, ["back pain 2 → 6"])]
        # The clinic's own numbers (outcome standards, a new version) decide
        OutcomeStandards.objects.create(clinic=paris, nrs_mcid=5, odi_mcid=10)
        assert prom_rows(readable(paris), day(80))["proms_worse"] == [(worse, ["ODI 20 → 34"])]
        OutcomeStandards.objects.create(clinic=paris, nrs_mcid=5, odi_mcid=15)
        assert prom_rows(readable(paris), day(80))["proms_worse"] == []
    assert rows["proms_due"] == []  # the 3-month one is answered

    with time_machine.travel(day(340), tick=False):
        rows = prom_rows(readable(paris), day(340))
    assert [c.code for c in rows["proms_due"]] == ["prom_12m"]
    assert rows["proms_worse"] == []  # answered more than a week ago

    other, _ = operated(paris)
    with time_machine.travel(day(130), tick=False):
        rows = prom_rows(readable(paris), day(130))
    # Both patients missed the baseline long ago (not listed: over 30 days); the second
    # missed the 6-week one... also over 30 days; and the 3-month closed on day 120.
    assert [(c.patient_id, c.code) for c in rows["proms_missing"]] == [(other.pk, "prom_3m")]


def test_three_unanswered_invitations_in_a_row_propose_the_patient_as_lost(protocols, paris):
    patient, surgery = operated(paris)
    answering, theirs = operated(paris)  # answered the first, then nothing: two in a row
    for code in ("prom_6w", "prom_3m", "prom_12m"):
        for who, operation in ((patient, surgery), (answering, theirs)):
            checkpoint = time_point(operation, code)
            PromInvitation.objects.create(
                checkpoint=checkpoint, clinic=paris, patient=who, language="en",
                expires_at=checkpoint.due_at,
                completed_at=day(50) if who == answering and code == "prom_6w" else None,
            )  # fmt: skip
    with time_machine.travel(day(420), tick=False):
        assert prom_rows(readable(paris), day(420))["proposed_lost"] == []  # 12m still open
    with time_machine.travel(day(430), tick=False):
        rows = prom_rows(readable(paris), day(430))
        assert rows["proposed_lost"] == [patient]
        assert rows["proposed_lost"][0].unanswered == 3
        # The clinic's number is data: two in a row are enough for it from now on
        OutcomeStandards.objects.create(clinic=paris, lost_after_unanswered=2)
        lost = prom_rows(readable(paris), day(430))["proposed_lost"]
        assert sorted(p.pk for p in lost) == sorted([patient.pk, answering.pk])
        # The last answered invitation resets the count
        PromInvitation.objects.filter(patient=patient, checkpoint__code="prom_3m").update(
            completed_at=day(100)
        )
        assert prom_rows(readable(paris), day(430))["proposed_lost"] == [answering]


def test_the_dashboard_gives_the_capture_rate_per_time_point(protocols, paris):
    answered, surgery = operated(paris)
    operated(paris)
    Assessment.objects.create(patient=answered, surgery=surgery, assessed_at=day(40), nrs_back=3)
    refresh.refresh(surgery.pk, day(41))
    with time_machine.travel(day(60), tick=False):
        capture = {row["code"]: row for row in dashboard(paris)["prom_capture"]}
    assert set(capture) == {"prom_baseline", "prom_6w"}
    assert (capture["prom_6w"]["answered"], capture["prom_6w"]["missed"]) == (1, 1)
    assert capture["prom_6w"]["rate"] == 50
    assert capture["prom_baseline"]["rate"] == 0


def test_the_worklist_page_renders_the_sections(protocols, paris):
    staff = make_staff("nina", paris, Role.CLINICIAN)
    operated(paris)
    browser = Client()
    browser.force_login(staff)
    with time_machine.travel(day(36), tick=False):
        html = browser.get("/admin/").content.decode()
        board = browser.get("/admin/dashboard/").content.decode()
    assert "Questionnaires due now (1)" in html and "PROMs at 6 weeks" in html
    assert "Proposed as lost to follow-up (0)" in html
    assert 'class="prom-capture"' in board


def test_the_picture_draws_the_scores_and_the_prom_windows_under_the_imaging(protocols, paris):
    patient, surgery = operated(paris)
    Assessment.objects.create(patient=patient, surgery=surgery, assessed_at=day(40), nrs_back=2,
                              nrs_leg=5, odi=30)  # fmt: skip
    refresh.refresh(surgery.pk, day(41))
    now = day(100)
    entries = timeline.build(patient, now)
    svg = picture.render(next(e for e in entries if e.type == "surgery"), entries, now)
    assert svg.count('class="prom-band') == 5
    assert "PROMs at 6 weeks: answered" in svg and "PROMs at 3 months: open" in svg
    assert 'class="score-point score-nrs_leg"' in svg and "NRS leg 5 on" in svg
    assert "ODI 30 on" in svg
    # Under the imaging: the PROM windows and the scores below the exams' rows.
    exams_row = svg.index(">XR<")
    assert svg.index("prom-band") > exams_row and svg.index("score-point") > exams_row
