"""The HL7 listener as a hospital's interface engine meets it: a real `hl7_listener`
process on a loopback port, messages sent with python-hl7's MLLP client."""

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from followup.models import Alert, Checkpoint, Hl7Message, Hl7Status
from followup.pipeline import refresh
from followup.pipeline.merging import MERGED_MRN_SYSTEM
from imaging.models import ImagingExam
from patients.models import Patient, PatientIdentifier
from tests import factories

from . import messages as m
from .conftest import OPERATED, PARIS
from .hl7_listener import ack_fields, msa, send

pytestmark = pytest.mark.django_db(transaction=True)


def refreshed(patient: Patient) -> None:
    """The refresh task's work, done here (no worker in these tests)."""
    refresh.refresh_many(patient.surgeries.values_list("pk", flat=True), timezone.now())


def test_a_result_becomes_a_matched_exam_with_its_findings_and_report(listener, operated):
    message = m.oru("MSG-1", "M100", "ACC-1", "20260201093000", results=(
        m.text(1, "Lumbar spine AP and lateral.", "Screws in place \\F\\ no lucency."),
        m.finding(2, "bridging", "partial", "L4-L5"),
        m.finding(3, "screw_lucency_mm", "3", "L5", "L", kind="NM"),
    ))  # fmt: skip
    ack = send(listener.port, message)
    assert msa(ack) == ("AA", "MSG-1")

    exam = ImagingExam.objects.get(accession_number="ACC-1")
    assert (exam.patient, exam.modality) == (operated, "XR")  # CR is a radiograph
    # A time without an offset is the clinic's local time.
    assert exam.performed_at == datetime(2026, 2, 1, 9, 30, tzinfo=PARIS)
    assert exam.report == "Lumbar spine AP and lateral.\nScrews in place | no lucency."
    found = {(f.code, f.level, f.side): f.value for f in exam.findings.all()}
    assert found == {("bridging", "L4-L5", ""): "partial", ("screw_lucency_mm", "L5", "left"): 3}
    logged = Hl7Message.objects.get()
    assert (logged.status, logged.ack_code, logged.control_id) == (Hl7Status.PROCESSED, "AA",
                                                                   "MSG-1")  # fmt: skip
    assert logged.touched == {"patient": [operated.pk], "exam": [exam.pk]}
    assert "Dupont" not in str(logged.summary) and "Screws" not in str(logged.summary)

    refreshed(operated)
    baseline = Checkpoint.objects.get(patient=operated, code="baseline_film")
    assert baseline.satisfied_by == exam
    assert Alert.objects.filter(patient=operated, code="screw_loosening").exists()


def test_the_audit_names_the_source(listener, operated):
    from pghistory.models import MiddlewareEvents

    send(listener.port, m.oru("MSG-A", "M100", "ACC-A", "20260201093000"))
    exam = ImagingExam.objects.get(accession_number="ACC-A")
    events = MiddlewareEvents.objects.references(exam)
    (event,) = events.filter(pgh_label="insert", pgh_model="imaging.ImagingExamEvent")
    assert event.pgh_context["hl7_source"] == m.FACILITY


@pytest.mark.parametrize("version", ["2.3", "2.5.1"])
@pytest.mark.parametrize("end", ["\r", "\n", "\r\n"])
def test_versions_and_segment_ends(listener, operated, version, end):
    message = m.oru(f"V-{version}-{len(end)}-{ord(end[0])}", "M100", "ACC-V", "202602010930",
                    version=version, end=end, results=(m.text(1, "one", "two"),))  # fmt: skip
    assert msa(send(listener.port, message))[0] == "AA"
    assert ImagingExam.objects.get(accession_number="ACC-V").report == "one\ntwo"


def test_escapes_z_segments_and_missing_optional_fields(listener, operated):
    message = m.oru("ESC-1", "M100", "ACC-E", "20260201", results=(
        m.text(1, "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", kind="FT"),
        m.text(2, "first\\.br\\second", kind="FT"),
        "ZDS|1.2.840.113619^^Application^DICOM",
        "NTE|1||a note",
    ))  # fmt: skip
    assert msa(send(listener.port, message))[0] == "AA"
    exam = ImagingExam.objects.get(accession_number="ACC-E")
    assert exam.report == "a|b^c&d~e\\f\nfirst\nsecond"
    # A date alone is the start of that day in the clinic's zone.
    assert exam.performed_at == datetime(2026, 2, 1, 0, 0, tzinfo=PARIS)


def test_a_time_with_an_offset_is_kept(listener, operated):
    send(listener.port, m.oru("OFF-1", "M100", "ACC-O", "20260201093000-0500"))
    exam = ImagingExam.objects.get(accession_number="ACC-O")
    assert exam.performed_at == datetime(2026, 2, 1, 14, 30, tzinfo=timezone.UTC)


def test_a_duplicate_answers_aa_and_changes_nothing(listener, operated):
    message = m.oru("DUP-1", "M100", "ACC-D", "20260201093000",
                    results=(m.finding(1, "bridging", "partial", "L4-L5"),))  # fmt: skip
    assert msa(send(listener.port, message)) == ("AA", "DUP-1")
    exam = ImagingExam.objects.get(accession_number="ACC-D")
    ImagingExam.objects.filter(pk=exam.pk).update(report="edited by staff since")
    assert msa(send(listener.port, message)) == ("AA", "DUP-1")
    assert ImagingExam.objects.get(pk=exam.pk).report == "edited by staff since"
    assert Hl7Message.objects.count() == 1


def test_a_correction_replaces_the_findings(listener, operated):
    send(listener.port, m.oru("COR-1", "M100", "ACC-C", "20260201093000", results=(
        m.finding(1, "bridging", "none", "L4-L5"), m.finding(2, "vacuum_disc", "Y", "L4-L5"),
    )))  # fmt: skip
    exam = ImagingExam.objects.get(accession_number="ACC-C")
    assert exam.findings.count() == 2
    ack = send(
        listener.port,
        m.oru(
            "COR-2",
            "M100",
            "ACC-C",
            "20260201093000",
            status="C",
            results=(m.finding(1, "bridging", "complete", "L4-L5"),),
        ),
    )
    assert msa(ack)[0] == "AA"
    assert ImagingExam.objects.count() == 1
    assert [(f.code, f.value) for f in exam.findings.all()] == [("bridging", "complete")]


def test_a_bad_field_is_ae_naming_segment_and_field_and_writes_nothing(listener, operated):
    message = m.oru("BAD-1", "M100", "ACC-B", "20260201093000", results=(
        m.text(1, "report"), m.finding(2, "bridging", "partial", "L4-L5"),
        m.finding(3, "screw_lucency_mm", "45", "L5", kind="NM"),
    ))  # fmt: skip
    ack = send(listener.port, message)
    assert msa(ack) == ("AE", "BAD-1")
    err = ack_fields(ack)["ERR"]
    assert err[2] == "OBX^3^5"  # the third OBX, its value
    assert err[1].startswith("OBX^3^5^")  # v2.3's ERR-1 says the same
    assert not ImagingExam.objects.exists()
    logged = Hl7Message.objects.get()
    assert (logged.status, logged.touched) == (Hl7Status.ERROR, {})
    assert "OBX[3]-5" in logged.error


@pytest.mark.parametrize(
    ("results", "performed", "modality", "where"),
    [
        ((), "2026-02-01", "CR", "OBR^1^7"),
        ((), "20260201", "ZZ", "OBR^1^24"),
        ((m.finding(1, "no_such_code", "1"),), "20260201", "CR", "OBX^1^3"),
        ((m.finding(1, "bridging", "partial", "L9-L10"),), "20260201", "CR", "OBX^1^4"),
        ((), "20990101", "CR", "OBR^1^7"),  # in the future
    ],
)
def test_bad_fields_name_their_place(listener, operated, results, performed, modality, where):
    ack = send(listener.port, m.oru("BAD-2", "M100", "ACC-2", performed, modality=modality,
                                    results=results))  # fmt: skip
    assert msa(ack)[0] == "AE"
    assert ack_fields(ack)["ERR"][2] == where
    assert not ImagingExam.objects.exists()


def test_an_unknown_facility_or_type_is_ar(listener, operated):
    ack = send(listener.port, m.oru("AR-1", "M100", "ACC-R", "20260201", facility="ELSEWHERE"))
    assert msa(ack) == ("AR", "AR-1")
    message = m.msh("AR-2", "SIU^S12") + "\r" + m.pid("M100") + "\r"
    assert msa(send(listener.port, message)) == ("AR", "AR-2")
    assert not ImagingExam.objects.exists()
    assert set(Hl7Message.objects.values_list("status", flat=True)) == {Hl7Status.REJECTED}


def test_a_patient_the_clinic_does_not_follow_is_accepted_and_dropped(listener, operated):
    assert msa(send(listener.port, m.oru("NF-1", "OTHER", "ACC-N", "20260201")))[0] == "AA"
    assert not ImagingExam.objects.exists()
    assert Hl7Message.objects.get().status == Hl7Status.IGNORED


def test_a08_updates_the_patient_and_a_death_ends_the_follow_up(listener, operated):
    ack = send(listener.port, m.adt_a08("A08-1", "M100", name="Durand^Marie", sex="F",
                                        version="2.3"))  # fmt: skip
    assert msa(ack)[0] == "AA"
    operated.refresh_from_db()
    assert (operated.family_name, operated.followup_status) == ("Durand", "active")

    ack = send(listener.port, m.adt_a08("A08-2", "M100", death="20260220", indicator="Y"))
    assert msa(ack)[0] == "AA"
    operated.refresh_from_db()
    assert operated.followup_status == "deceased"
    assert operated.followup_status_set_by == f"HL7 source {m.FACILITY}"
    assert "2026-02-20" in operated.followup_status_reason


def test_a40_merges_everything_keeps_the_alias_and_a_replay_changes_nothing(listener, operated):
    other = factories.patient(operated.clinic, mrn="M200")
    surgery = factories.surgery(other, OPERATED + timedelta(days=3), procedure="discectomy")
    exam = factories.exam(other, surgery, accession_number="ACC-M",
                          performed_at=OPERATED + timedelta(days=10))  # fmt: skip
    message = m.adt_a40("A40-1", survivor="M100", merged="M200")
    assert msa(send(listener.port, message))[0] == "AA"
    assert not Patient.objects.filter(mrn="M200").exists()
    exam.refresh_from_db()
    surgery.refresh_from_db()
    assert exam.patient_id == surgery.patient_id == operated.pk
    assert PatientIdentifier.objects.get(system=MERGED_MRN_SYSTEM).patient == operated
    # Replayed with a new control id: nothing more to do.
    assert msa(send(listener.port, m.adt_a40("A40-2", "M100", "M200")))[0] == "AA"
    assert Hl7Message.objects.get(control_id="A40-2").status == Hl7Status.IGNORED
    # A later result for the merged MRN lands on the survivor.
    send(listener.port, m.oru("A40-3", "M200", "ACC-after", "20260301"))
    assert ImagingExam.objects.get(accession_number="ACC-after").patient == operated


@pytest.mark.parametrize(("kind", "version"), [("ORM^O01", "2.3"), ("OMI^O23", "2.5.1")])
def test_an_order_books_the_checkpoint_it_would_satisfy(listener, operated, kind, version):
    ack = send(listener.port, m.orm("ORD-1", "M100", "ACC-O1", "202602031000", kind=kind,
                                    version=version))  # fmt: skip
    assert msa(ack)[0] == "AA"
    baseline = Checkpoint.objects.get(patient=operated, code="baseline_film")
    assert baseline.booked_order == "ACC-O1"
    assert baseline.booked_at == datetime(2026, 2, 3, 10, 0, tzinfo=PARIS)
    cancel = m.orm("ORD-2", "M100", "ACC-O1", "202602031000", kind=kind, version=version,
                   control_code="CA")  # fmt: skip
    assert msa(send(listener.port, cancel))[0] == "AA"
    baseline.refresh_from_db()
    assert (baseline.booked_at, baseline.booked_order) == (None, "")


def test_mllp_send_the_tool_hospitals_test_with(listener, operated, tmp_path):
    path = tmp_path / "oru.hl7"
    path.write_text(m.oru("CLI-1", "M100", "ACC-CLI", "20260201093000", end="\n"))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mllp_send"), "--port", str(listener.port), "--loose",
         "--file", str(path), "127.0.0.1"],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    assert "MSA|AA|CLI-1" in done.stdout.decode()
    assert ImagingExam.objects.filter(accession_number="ACC-CLI").exists()
