"""The follow-up picture (followup/reads/picture.py) read as XML: one element per timeline entry.

Expected numbers come from the database, never from the picture's own entries.
"""

from collections import Counter

import pytest
import time_machine
from django.test import Client

from followup.models import Alert, Checkpoint, CheckpointKind
from followup.reads import picture, timeline
from patients.models import Assessment, ClinicalEvent

from .story import NOW, Story, exams_of, fusion_story
from .svg import NS, class_with, find, parse, pictures_in, tooltip

VARIANT = "Lumbarised S1: six lumbar vertebrae, counted from C2"
HOSTILE = '<script>alert("x")</script> & </svg><svg onload="alert(1)">'


@pytest.fixture
def story(protocols, staff_a) -> Story:
    return fusion_story(staff_a.clinic, waived_by=staff_a.user)


def svg_of(story: Story, surgery=None) -> str:
    surgery = surgery or story.fusion
    story.patient.refresh_from_db()
    entries = timeline.build(story.patient, NOW)
    (entry,) = [e for e in entries if e.type == "surgery" and e.id == surgery.pk]
    return picture.render(entry, entries, NOW, story.patient.transitional_variant)


def windows_of(surgery) -> list[Checkpoint]:
    kinds = [CheckpointKind.EXAM, CheckpointKind.WORKUP]
    return list(Checkpoint.objects.filter(surgery=surgery, kind__in=kinds))


def test_the_story_has_every_kind_of_entry(story):
    """Guards the checks below against passing on an empty picture."""
    assert {c.status_at(NOW) for c in windows_of(story.fusion)} == {
        "satisfied", "open", "upcoming", "overdue", "waived",
    }  # fmt: skip
    assert {c.kind for c in windows_of(story.fusion)} == {"exam", "workup"}
    assert exams_of(story.discectomy).exists()
    assert Alert.objects.filter(surgery=story.fusion, severity="urgent").count() == 2


def test_the_picture_is_one_well_formed_svg_with_a_title_and_a_description(story):
    root = parse(svg_of(story))

    assert root.get("role") == "img"
    title, desc = root.find("{*}title"), root.find("{*}desc")
    assert title is not None and desc is not None
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert title.text == "Follow-up of tlif L4-L5 on 2026-01-05"


def test_one_point_per_exam_of_the_surgery_on_its_modality_row(story):
    root = parse(svg_of(story))

    points = find(root, "circle", "exam")
    modalities = exams_of(story.fusion).values_list("modality", flat=True)
    assert Counter(class_with(p, "modality-") for p in points) == Counter(
        f"modality-{m}" for m in modalities
    )
    assert len(points) == 3
    rows = {p.get("class"): float(p.get("cy")) for p in points}
    assert rows["exam modality-XR"] < rows["exam modality-CT"] < rows["exam modality-MR"]


def test_one_band_per_window_with_its_status(story):
    root = parse(svg_of(story))

    bands = find(root, "rect", "band")
    expected = Counter(
        (f"status-{c.status_at(NOW)}", f"kind-{'checkpoint' if c.kind == 'exam' else c.kind}")
        for c in windows_of(story.fusion)
    )
    shown = Counter((class_with(b, "status-"), class_with(b, "kind-")) for b in bands)
    assert shown == expected
    assert len(bands) == 5
    (overdue,) = find(root, "rect", "band", "status-overdue")
    assert overdue.get("stroke-dasharray") == "4 2"
    assert tooltip(overdue) == "Cauda equina syndrome work-up: overdue"


def test_milestone_lines_mark_the_gadolinium_cutoff(story):
    root = parse(svg_of(story))

    lines = find(root, "line", "milestone")
    codes = Checkpoint.objects.filter(surgery=story.fusion, kind=CheckpointKind.MILESTONE)
    assert sorted(class_with(line, "code-") for line in lines) == sorted(
        f"code-{code}" for code in codes.values_list("code", flat=True)
    )
    (cutoff,) = find(root, "line", "milestone", "code-gadolinium_cutoff")
    assert cutoff.get("stroke-width") == "2"
    assert "passed" in tooltip(cutoff)


def test_one_triangle_per_alert_by_severity(story):
    root = parse(svg_of(story))

    shown = Counter(class_with(p, "severity-") for p in find(root, "polygon", "alert"))
    alerts = Alert.objects.filter(surgery=story.fusion).values_list("severity", flat=True)
    assert shown == Counter(f"severity-{s}" for s in alerts)
    assert sum(shown.values()) == 3


def test_a_pain_point_per_assessment_with_a_back_score(story):
    root = parse(svg_of(story))

    dots = find(root, "circle", "pain-point")
    scores = Assessment.objects.filter(surgery=story.fusion, nrs_back__isnull=False)
    assert sorted(tooltip(d) for d in dots) == sorted(
        f"NRS back {a.nrs_back} on {a.assessed_at:%Y-%m-%d}" for a in scores
    )
    assert len(dots) == 2  # the third assessment scores the leg only
    (curve,) = find(root, "polyline", "pain")
    assert len(curve.get("points").split()) == 2


def test_the_description_says_how_many_of_each(story):
    desc = parse(svg_of(story)).find("{*}desc").text

    assert desc.startswith(
        "5 checkpoint windows, 2 milestones, 3 exams, 3 alerts, 3 pain assessments."
    )
    assert "Overdue: Cauda equina syndrome work-up." in desc


def test_another_surgerys_entries_stay_out(story):
    root = parse(svg_of(story, story.discectomy))

    assert len(find(root, "circle", "exam")) == exams_of(story.discectomy).count() == 1
    assert find(root, "rect", "band") == []
    assert find(root, "polygon", "alert") == []
    assert len(find(root, "line", "milestone")) == 2


def test_the_variant_note_appears_only_when_the_patient_has_one(story):
    root = parse(svg_of(story))
    assert find(root, "text", "variant") == []
    assert "transitional" not in root.find("{*}desc").text.lower()

    story.patient.transitional_variant = VARIANT
    story.patient.save()
    root = parse(svg_of(story))

    (note,) = find(root, "text", "variant")
    assert note.text == f"Transitional variant: {VARIANT}"
    assert root.find("{*}desc").text.endswith(f"Lumbosacral transitional variant: {VARIANT}.")


def test_hostile_text_is_escaped_and_the_svg_stays_well_formed(story):
    story.patient.transitional_variant = HOSTILE
    story.patient.save()
    Checkpoint.objects.filter(surgery=story.fusion, code="cauda_equina").update(label=HOSTILE)

    svg = svg_of(story)
    root = parse(svg)

    assert "<script" not in svg and "</svg><svg" not in svg
    assert list(root.iter(f"{NS}script")) == []
    assert list(root.iter(f"{NS}svg")) == [root]  # no second svg smuggled in
    assert not [name for e in root.iter() for name in e.attrib if name.startswith("on")]
    (note,) = find(root, "text", "variant")
    assert note.text == f"Transitional variant: {HOSTILE}"  # shown as text, whole
    (band,) = find(root, "rect", "band", "status-overdue")
    assert tooltip(band) == f"{HOSTILE}: overdue"
    assert HOSTILE in root.find("{*}desc").text


# --- embedded in the admin's pages ---------------------------------------------------


def page(persona, url: str) -> str:
    browser = Client()
    browser.force_login(persona.user)
    with time_machine.travel(NOW, tick=False):
        response = browser.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_patient_page_draws_one_picture_per_surgery(story, staff_a):
    html = page(staff_a, f"/admin/patients/patient/{story.patient.pk}/change/")

    by_title = {p.find("{*}title").get("id"): p for p in pictures_in(html)}
    assert sorted(by_title) == sorted(f"t{s.pk}" for s in (story.fusion, story.discectomy))
    fusion = by_title[f"t{story.fusion.pk}"]
    assert len(find(fusion, "circle", "exam")) == 3
    assert len(find(fusion, "rect", "band")) == 5


def test_the_surgery_page_draws_its_own_picture(story, staff_a):
    html = page(staff_a, f"/admin/patients/surgery/{story.fusion.pk}/change/")

    (fusion,) = pictures_in(html)
    assert fusion.find("{*}title").get("id") == f"t{story.fusion.pk}"
    assert len(find(fusion, "polygon", "alert")) == 3


def test_the_pages_escape_hostile_text_around_the_picture(story, staff_a):
    story.patient.transitional_variant = HOSTILE
    story.patient.save()
    event = ClinicalEvent.objects.filter(surgery=story.fusion).first()
    event.notes = HOSTILE
    event.save()

    for url in (f"/admin/patients/patient/{story.patient.pk}/change/",
                f"/admin/patients/surgery/{story.fusion.pk}/change/"):  # fmt: skip
        html = page(staff_a, url)
        assert '<script>alert("x")' not in html, url
        assert all(pictures_in(html)), url


def test_another_clinics_staff_do_not_get_the_picture(story, staff_b):
    browser = Client()
    browser.force_login(staff_b.user)
    response = browser.get(f"/admin/patients/patient/{story.patient.pk}/change/", follow=True)
    assert pictures_in(response.content.decode()) == []
