"""The message log for managers: read, replay; the sources; retention; the booked field."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from followup.feeds.hl7 import processing
from followup.models import Checkpoint, Hl7Message, Hl7Source, Hl7Status
from followup.pipeline import sweep
from imaging.models import ImagingExam
from patients.models import Role
from tests.conftest import make_staff, persona_with

from . import messages as m

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(client, clinic):
    client.force_login(make_staff("maud", clinic, Role.MANAGER))
    return client


def test_create_hl7_source_is_idempotent(clinic, capsys):
    call_command("create_hl7_source", "lyon", "PACS2")
    call_command("create_hl7_source", "lyon", "PACS2")
    assert Hl7Source.objects.filter(facility="PACS2", clinic=clinic).count() == 1
    assert "Exists: HL7 source PACS2 -> lyon" in capsys.readouterr().out


def test_managers_read_the_log_and_others_do_not(manager, client, clinic, operated):
    processing.process(m.oru("LOG-1", "M100", "ACC-1", "20260201").encode())
    row = Hl7Message.objects.get()
    page = manager.get(f"/admin/followup/hl7message/{row.pk}/change/")
    assert page.status_code == 200
    assert b"ACC-1" in page.content and b"/admin/imaging/imagingexam/" in page.content
    client.force_login(make_staff("cleo", clinic, Role.CLINICIAN))
    assert client.get(f"/admin/followup/hl7message/{row.pk}/change/").status_code in (302, 403)


def test_replay_processes_a_message_again(manager, operated):
    bridging = m.finding(1, "bridging", "partial", "L4-L5")
    processing.process(m.oru("REP-1", "M100", "ACC-R", "20260201", results=(bridging,)).encode())
    ImagingExam.objects.all().delete()
    row = Hl7Message.objects.get()
    response = manager.post("/admin/followup/hl7message/",
                            {"action": "replay", "_selected_action": [row.pk]})  # fmt: skip
    assert response.status_code == 302
    assert ImagingExam.objects.get().findings.count() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Hl7Status.PROCESSED, 2)


def test_old_messages_are_purged_by_the_sweep(settings, clinic, operated):
    settings.HL7_RETENTION_DAYS = 30
    processing.process(m.oru("OLD-1", "M100", "ACC-O", "20260201").encode())
    processing.process(m.oru("NEW-1", "M100", "ACC-N", "20260201").encode())
    Hl7Message.objects.filter(control_id="OLD-1").update(
        received_at=timezone.now() - timedelta(days=31)
    )
    sweep.run(timezone.now())
    assert list(Hl7Message.objects.values_list("control_id", flat=True)) == ["NEW-1"]


def test_the_api_and_the_timeline_show_a_booking(clinic, operated):
    processing.process(m.orm("ORD-1", "M100", "ACC-B", "202602031000").encode())
    baseline = Checkpoint.objects.get(patient=operated, code="baseline_film")
    integration = persona_with(clinic, "EHR")
    body = integration.api.get(f"/api/v1/checkpoints/{baseline.pk}/").json()
    assert body["booked_order"] == "ACC-B" and body["booked_at"]
    timeline = integration.api.get(f"/api/v1/patients/{operated.pk}/timeline/").json()
    entries = timeline["entries"] if isinstance(timeline, dict) else timeline
    assert any(e.get("booked_order") == "ACC-B" or e.get("data", {}).get("booked_order") == "ACC-B"
               for e in entries)  # fmt: skip
