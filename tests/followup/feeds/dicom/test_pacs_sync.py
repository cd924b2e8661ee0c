"""`manage.py pacs_sync` against a real Orthanc with its DICOMweb plugin, on loopback: the
followed patients' studies no association brought are recorded once, known ones are left
untouched, a second run records nothing."""

import uuid
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from followup.models import DicomSource, PacsSyncRun
from followup.tasks import pacs_sync
from imaging.models import ImagingExam
from tests import factories

from . import objects

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def pacs(settings, orthanc):
    settings.PACS_DICOMWEB_URL = orthanc.dicomweb
    settings.PACS_DICOMWEB_USER = orthanc.user
    settings.PACS_DICOMWEB_PASSWORD = orthanc.password
    return orthanc


@pytest.fixture
def source(db, clinic_a) -> DicomSource:
    return DicomSource.objects.create(clinic=clinic_a, ae_title="PACS")


def an_hour_ago() -> datetime:
    return (timezone.localtime(timezone.now(), PARIS) - timedelta(hours=1)).replace(
        tzinfo=None, microsecond=0
    )


def sync() -> str:
    out = StringIO()
    call_command("pacs_sync", stdout=out)
    return out.getvalue()


def test_missing_studies_are_recorded_once_and_known_ones_left_alone(pacs, source, folder):
    patient = factories.patient(source.clinic, mrn=f"P-{uuid.uuid4().hex[:8]}")
    factories.surgery(patient, performed_at=timezone.now() - timedelta(days=20))
    missing = objects.Study(patient.mrn, an_hour_ago(), accession=uuid.uuid4().hex[:12])
    known = objects.Study(patient.mrn, an_hour_ago(), accession=uuid.uuid4().hex[:12])
    stranger = objects.Study(f"S-{uuid.uuid4().hex[:8]}", an_hour_ago(), accession="X-1")
    for ds in (objects.image(missing, "CT"), objects.image(missing, "CT"),
               objects.ct_dose_report(missing, [(100, objects.LUMBAR)], 100),
               objects.image(known, "DX"), objects.image(stranger, "MR")):  # fmt: skip
        pacs.upload(objects.write(ds, folder))
    already = factories.exam(patient, modality="XR", accession_number=known.accession,
                             study_instance_uid=known.uid, report="Read by the radiologist.",
                             performed_at=timezone.now() - timedelta(hours=2))  # fmt: skip

    output = sync()

    assert "1/1 patients" in output
    assert "1 recorded, 1 already known" in output
    recorded = ImagingExam.objects.get(study_instance_uid=missing.uid)
    assert (recorded.patient, recorded.modality) == (patient, "CT")  # SR says nothing of it
    assert recorded.accession_number == missing.accession
    assert recorded.performed_at == missing.when.replace(tzinfo=PARIS)
    untouched = ImagingExam.objects.get(pk=already.pk)
    assert (untouched.updated_at, untouched.report) == (already.updated_at, already.report)
    assert ImagingExam.objects.count() == 2  # nothing of the patient the clinic does not follow

    again = sync()

    assert "0 recorded, 2 already known" in again
    assert ImagingExam.objects.count() == 2
    first, second = PacsSyncRun.objects.order_by("started_at")
    assert (first.status, second.status) == ("done", "done")
    assert second.since == (first.started_at - timedelta(days=1)).date()


def test_a_pacs_that_does_not_answer_fails_the_run_and_the_next_asks_from_the_same_day(
    settings, source
):
    factories.patient(source.clinic)
    settings.PACS_DICOMWEB_URL = "http://127.0.0.1:9/dicom-web"  # discard: nothing listens
    settings.PACS_TIMEOUT = 2

    with pytest.raises(CommandError, match="failed: ConnectionError"):
        sync()

    failed = PacsSyncRun.objects.get()
    assert failed.status == "failed"
    assert "127.0.0.1" not in failed.error  # kind of failure only, never a URL with an MRN


def test_wrong_credentials_fail_the_run(settings, pacs, source):
    factories.patient(source.clinic)
    settings.PACS_DICOMWEB_PASSWORD = "not-it"

    with pytest.raises(CommandError, match="HTTP 401"):
        sync()


def test_without_a_pacs_url_the_command_says_so_and_the_task_does_nothing(settings, db):
    settings.PACS_DICOMWEB_URL = ""

    with pytest.raises(CommandError, match="PACS_DICOMWEB_URL"):
        sync()
    assert pacs_sync() is None
    assert not PacsSyncRun.objects.exists()


def test_a_patient_whose_follow_up_ended_is_not_asked_for(pacs, source, folder):
    from patients.models import FollowupStatus

    ended = factories.patient(source.clinic, mrn=f"E-{uuid.uuid4().hex[:8]}",
                              followup_status=FollowupStatus.DECEASED)  # fmt: skip
    study = objects.Study(ended.mrn, an_hour_ago(), accession="E-1")
    pacs.upload(objects.write(objects.image(study, "CT"), folder))

    assert "0 patients" in sync()
    assert not ImagingExam.objects.exists()


def test_one_run_at_a_time(pacs, source):
    import psycopg

    from followup.feeds.dicom.reconcile import LOCK_KEY
    from followup.ops.serving import database_url

    factories.patient(source.clinic)
    with psycopg.connect(database_url(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])  # a run under way elsewhere

        with pytest.raises(CommandError, match="under way"):
            sync()
        assert not PacsSyncRun.objects.exists()

        other.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
    assert "1/1 patients" in sync()
