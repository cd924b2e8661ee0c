"""The storage SCP as a process of its own, fed by real SCUs on loopback: each study one exam
for a followed patient, through the REST API's validation and audit."""

import socket
import struct
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from pghistory.models import MiddlewareEvents

from followup.models import DicomSource, DroppedStudy, SurgeryPlan
from imaging.models import ImagingExam
from tests import factories

from . import objects
from .conftest import send, storescu, wait_for

PARIS = ZoneInfo("Europe/Paris")


def a_week_ago() -> datetime:
    """A naive local time in the past (the modality's clock), on the minute."""
    return (timezone.localtime(timezone.now(), PARIS) - timedelta(days=7)).replace(
        tzinfo=None, second=0, microsecond=0
    )


@pytest.fixture
def patient(ct1):
    patient = factories.patient(ct1.clinic, mrn="MRN-7")
    factories.surgery(patient, performed_at=timezone.now() - timedelta(days=30))
    return patient


@pytest.mark.parametrize("modality", ["CR", "DX", "CT", "MR", "NM", "PT", "RF", "US"])
def test_each_modality_becomes_one_exam(listener, patient, modality):
    study = objects.Study(patient.mrn, a_week_ago(), accession=f"A-{modality}")

    statuses = send(listener.port, [objects.image(study, modality, pixels=True),
                                    objects.image(study, modality, pixels=False)])  # fmt: skip

    assert statuses == [0, 0]
    exam = ImagingExam.objects.get()
    assert exam.modality == {"CR": "XR", "DX": "XR"}.get(modality, modality)
    assert (exam.study_instance_uid, exam.accession_number) == (study.uid, f"A-{modality}")
    assert exam.patient == patient
    assert exam.performed_at == study.when.replace(tzinfo=PARIS)  # the clinic's zone
    assert exam.surgery is not None  # the latest surgery before it, as the REST API does


def test_storescu_sends_a_study_with_its_pixels(listener, patient, folder):
    study = objects.Study(patient.mrn, a_week_ago(), accession="A-1")
    paths = [objects.write(objects.image(study, "CT", size=256), folder) for _ in range(3)]

    result = storescu(listener.port, paths)

    assert result.returncode == 0, result.stderr
    assert ImagingExam.objects.get().study_instance_uid == study.uid
    # The exam's audit names the source; the refresh nudge was recorded (its stale mark).
    event = MiddlewareEvents.objects.references(ImagingExam.objects.get()).first()
    assert event.pgh_context["feed"] == "DICOM source CT1"
    assert SurgeryPlan.objects.filter(stale_since__isnull=False).exists()


def test_a_study_sent_twice_and_over_several_associations_is_one_exam(listener, patient):
    study = objects.Study(patient.mrn, a_week_ago(), accession="A-2")
    first = [objects.image(study, "CT") for _ in range(2)]

    send(listener.port, first)
    send(listener.port, first)  # again, the same instances
    send(listener.port, [objects.image(study, "CT")])  # more of the study, later

    exam = ImagingExam.objects.get()
    assert exam.study_instance_uid == study.uid
    # Created once, never rewritten by the instances that said nothing new.
    assert MiddlewareEvents.objects.references(exam).filter(pgh_label="update").count() == 0


def test_a_study_arriving_after_its_hl7_or_api_exam_completes_that_exam(listener, patient):
    ordered = factories.exam(patient, accession_number="A-3", modality="XR",
                             performed_at=timezone.now() - timedelta(days=7))  # fmt: skip
    study = objects.Study(patient.mrn, a_week_ago(), accession="A-3")

    send(listener.port, [objects.image(study, "DX")])

    ordered.refresh_from_db()
    assert ImagingExam.objects.count() == 1
    assert ordered.study_instance_uid == study.uid


def test_a_pet_ct_is_a_pet_whatever_arrives_first(listener, patient):
    study = objects.Study(patient.mrn, a_week_ago(), accession="A-4")

    send(listener.port, [objects.image(study, "CT"), objects.image(study, "PT"),
                         objects.image(study, "CT")])  # fmt: skip

    assert ImagingExam.objects.get().modality == "PT"


def test_a_time_with_an_offset_is_that_instant(listener, patient):
    when = a_week_ago()
    study = objects.Study(patient.mrn, when, accession="A-5", offset="-0500")

    send(listener.port, [objects.image(study, "MR")])

    expected = when.replace(tzinfo=ZoneInfo("Etc/GMT+5"))  # UTC-05:00, not Paris
    assert ImagingExam.objects.get().performed_at == expected


def test_a_study_of_a_patient_the_clinic_does_not_follow_is_counted_and_dropped(listener, patient):
    stranger = objects.Study("NOT-FOLLOWED", a_week_ago(), accession="A-6")

    statuses = send(listener.port, [objects.image(stranger, "CT") for _ in range(3)])
    send(listener.port, [objects.image(stranger, "CT")])

    assert statuses == [0, 0, 0]
    assert not ImagingExam.objects.exists()
    # Once per study; its instances counted when each association ends.
    dropped = wait_for(
        lambda: DroppedStudy.objects.filter(instances=4).first(), what="the instances counted"
    )
    assert dropped.study_instance_uid == stranger.uid
    assert DroppedStudy.objects.count() == 1


def test_an_unknown_calling_ae_title_is_rejected_at_association(listener, patient):
    study = objects.Study(patient.mrn, a_week_ago(), accession="A-7")

    assert send(listener.port, [objects.image(study, "CT")], calling="INTRUDER") is None
    assert send(listener.port, [objects.image(study, "CT")], called="SOMEONE_ELSE") is None
    assert not ImagingExam.objects.exists()


def test_a_study_the_rest_api_would_refuse_is_refused_and_said_why(listener, patient):
    future = objects.Study(patient.mrn, a_week_ago() + timedelta(days=30), accession="A-8")

    assert send(listener.port, [objects.image(future, "CT")]) == [0]

    assert not ImagingExam.objects.exists()
    source = wait_for(
        lambda: DicomSource.objects.filter(instances_refused=1).first(), what="the counters"
    )
    assert "future" in source.last_refusal
    assert source.last_seen_at is not None


def test_an_instance_without_a_study_is_not_understood(listener, patient):
    broken = objects.image(objects.Study(patient.mrn, a_week_ago()), "CT")
    del broken.StudyInstanceUID

    assert send(listener.port, [broken]) == [0xC000]


def test_garbage_and_aborted_associations_leave_the_listener_serving(listener, patient):
    with socket.create_connection(("127.0.0.1", listener.port)) as raw:
        raw.sendall(b"\x00" * 10 + b"GET / HTTP/1.1\r\n\r\n" + bytes(range(256)))
    with socket.create_connection(("127.0.0.1", listener.port)) as raw:
        raw.sendall(struct.pack(">BBI", 0x01, 0x00, 0xFFFFFFF0) + b"\x00\x01")  # a lie
    from pynetdicom import AE

    from followup.feeds.dicom.listener import STORAGE_CLASSES

    ae = AE(ae_title="CT1")
    ae.add_requested_context(STORAGE_CLASSES[3])
    assoc = ae.associate("127.0.0.1", listener.port, ae_title="FOLLOWUP")
    assert assoc.is_established
    assoc.abort()

    study = objects.Study(patient.mrn, a_week_ago(), accession="A-9")
    assert send(listener.port, [objects.image(study, "CT")]) == [0]
    assert listener.alive()
    assert ImagingExam.objects.get().accession_number == "A-9"


def test_sigterm_lets_the_association_under_way_finish_then_stops(django_db_blocker, patient):
    from pynetdicom import AE

    from followup.feeds.dicom.listener import STORAGE_CLASSES

    from .conftest import ListenerProcess

    own = ListenerProcess().start()
    try:
        ae = AE(ae_title="CT1")
        ae.add_requested_context(STORAGE_CLASSES[3])
        assoc = ae.associate("127.0.0.1", own.port, ae_title="FOLLOWUP")
        assert assoc.is_established
        own.process.send_signal(15)  # SIGTERM to the listener itself
        wait_for(lambda: "stopping" in own.output(), what="the listener to stop accepting")
        assert not own.answers_new()

        study = objects.Study(patient.mrn, a_week_ago(), accession="A-10")
        assert assoc.send_c_store(objects.image(study, "CT")).Status == 0  # still served
        assoc.release()

        assert own.process.wait(timeout=30) == 0, own.output()
        assert "stopped" in own.output()
        assert ImagingExam.objects.get().accession_number == "A-10"
    finally:
        own.stop()


def test_parallel_associations_beyond_the_limit_are_rejected_the_rest_served(
    django_db_blocker, patient
):
    from pynetdicom import AE

    from followup.feeds.dicom.listener import STORAGE_CLASSES

    from .conftest import ListenerProcess

    own = ListenerProcess(DICOM_MAX_ASSOCIATIONS="3").start()
    try:
        ae = AE(ae_title="CT1")
        ae.add_requested_context(STORAGE_CLASSES[3])
        held = [ae.associate("127.0.0.1", own.port, ae_title="FOLLOWUP") for _ in range(5)]
        established = [assoc for assoc in held if assoc.is_established]
        assert len(established) == 3  # the 4th and 5th: rejected (transient, local limit)

        studies = [objects.Study(patient.mrn, a_week_ago(), accession=f"P-{n}") for n in range(3)]
        for assoc, study in zip(established, studies, strict=True):
            assert assoc.send_c_store(objects.image(study, "CT")).Status == 0
        for assoc in established:
            assoc.release()

        assert ImagingExam.objects.count() == 3
        late = objects.Study(patient.mrn, a_week_ago(), accession="P-late")
        assert send(own.port, [objects.image(late, "CT")]) == [0]  # room again
    finally:
        own.stop()


def test_a_study_under_a_merged_mrn_goes_to_the_surviving_patient(listener, patient):
    from followup.pipeline import merging

    merged = factories.patient(patient.clinic, mrn="MRN-OLD")
    merging.merge(patient, merged, timezone.now())
    study = objects.Study("MRN-OLD", a_week_ago(), accession="A-11")

    send(listener.port, [objects.image(study, "CT")])

    assert ImagingExam.objects.get().patient == patient


def test_the_listeners_log_names_no_patient_accession_or_uid(listener, patient):
    study = objects.Study(patient.mrn, a_week_ago(), accession="SECRET-ACC-12")
    future = objects.Study(patient.mrn, a_week_ago() + timedelta(days=30), accession="FUT-77")
    stranger = objects.Study("STRANGER-MRN-5", a_week_ago(), accession="STR-ACC-9")
    named = objects.image(study, "CT")
    named.PatientName = "Zyxwv^Qutsr"

    send(listener.port, [named, objects.image(future, "CT"), objects.image(stranger, "CT")])
    send(listener.port, [objects.image(study, "CT")], calling="INTRUDER")
    wait_for(lambda: "ended" in listener.output(), what="the association's log line")

    logged = listener.output()
    assert "DICOM association from CT1 ended" in logged  # the log is there, and read
    for secret in (patient.mrn, "SECRET-ACC-12", "FUT-77", "STRANGER-MRN-5", "STR-ACC-9",
                   "Zyxwv", study.uid, future.uid, stranger.uid):  # fmt: skip
        assert secret not in logged, secret
