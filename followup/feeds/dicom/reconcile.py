"""The nightly reconciliation with the PACS (`manage.py pacs_sync`, the beat's `pacs_sync`):
asks it over DICOMweb QIDO-RS for the studies of each followed patient since the last
finished run, and records those no association brought (done at another site, or sent
while the feed was down).

Which patients: those whose follow-up goes on (status active), of the clinics that have
a DICOM source (they are connected to this PACS), by MRN (PatientID). A study already an
exam of the clinic (by Study Instance UID, or by accession number on an exam without one)
is left untouched; a new one is recorded
once through the same `storing.Writer` as the listener, as "PACS sync". A run that fails
(the PACS unreachable, an error answer) is recorded as failed, and the next run asks again
from the same day, so nothing is skipped.
"""

import logging
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timedelta

import requests
from dicomweb_client.api import DICOMwebClient
from django.conf import settings
from django.db import connection
from django.utils import timezone
from pydicom import Dataset

from followup.models import DicomSource, PacsSyncRun, PacsSyncStatus
from patients.models import FollowupStatus, Patient

from .headers import MODALITIES, RANK, Unreadable, read_study
from .storing import Outcome, Writer

log = logging.getLogger(__name__)

ACTOR = "PACS sync"
FIELDS = ["StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy", "PatientID",
          "TimezoneOffsetFromUTC"]  # fmt: skip
# The last run's day again: a study sent late on that day, after the run, is not missed.
OVERLAP = timedelta(days=1)


# A PostgreSQL advisory lock: one run at a time, whichever process (the beat's task, a
# command in a terminal) starts it.
LOCK_KEY = 0x5041435353594E43  # "PACSSYNC"


class NotConfigured(Exception):
    pass


class AlreadyRunning(Exception):
    pass


@contextmanager
def one_run_at_a_time():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        (locked,) = cursor.fetchone()
    if not locked:
        raise AlreadyRunning("Another PACS sync is under way.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def client() -> DICOMwebClient:
    if not settings.PACS_DICOMWEB_URL:
        raise NotConfigured("PACS_DICOMWEB_URL is not set: the reconciliation is off.")
    session = requests.Session()
    if settings.PACS_DICOMWEB_USER:
        session.auth = (settings.PACS_DICOMWEB_USER, settings.PACS_DICOMWEB_PASSWORD)
    return DICOMwebClient(
        url=settings.PACS_DICOMWEB_URL.rstrip("/"), session=session, timeout=settings.PACS_TIMEOUT
    )


def since(now: datetime):
    last = PacsSyncRun.objects.filter(status=PacsSyncStatus.DONE).order_by("-started_at").first()
    if last is None:
        return (now - timedelta(days=settings.PACS_SYNC_FIRST_DAYS)).date()
    return (last.started_at - OVERLAP).date()


def followed_patients():
    """The patients whose follow-up goes on, of the clinics connected to the PACS."""
    clinics = DicomSource.objects.values("clinic_id")
    return Patient.objects.filter(
        clinic_id__in=clinics, followup_status=FollowupStatus.ACTIVE
    ).order_by("clinic_id", "pk")


def run(
    pacs: DICOMwebClient | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PacsSyncRun:
    pacs = pacs or client()
    with one_run_at_a_time():
        return _run(pacs, now or timezone.now(), progress)


def _run(pacs: DICOMwebClient, now: datetime, progress) -> PacsSyncRun:
    record = PacsSyncRun.objects.create(started_at=now, since=since(now))
    patients = list(followed_patients().values_list("pk", "clinic_id", "mrn"))
    writers: dict[int, Writer] = {}
    try:
        for done, (_, clinic_id, mrn) in enumerate(patients, start=1):
            writer = writers.setdefault(clinic_id, Writer(clinic_id, ACTOR))
            for found in _studies(pacs, mrn, record.since):
                _reconcile(record, writer, found, mrn, now)
            record.patients = done
            if progress:
                progress(done, len(patients))
    except (requests.RequestException, ValueError) as error:
        record.status, record.error = PacsSyncStatus.FAILED, _why(error)
        log.warning("PACS sync failed after %s patients: %s", record.patients, record.error)
    else:
        record.status = PacsSyncStatus.DONE
    record.finished_at = timezone.now()
    record.save()
    log.info("PACS sync %s: %s patients, %s studies found, %s recorded, %s known, %s refused",
             record.status, record.patients, record.studies_found, record.studies_recorded,
             record.studies_known, record.studies_refused)  # fmt: skip
    return record


def _studies(pacs: DICOMwebClient, mrn: str, day) -> list[dict]:
    filters = {"PatientID": mrn, "StudyDate": f"{day:%Y%m%d}-"}
    return pacs.search_for_studies(search_filters=filters, fields=FIELDS, get_remaining=True)


def _reconcile(record: PacsSyncRun, writer: Writer, found: dict, mrn: str, now) -> None:
    record.studies_found += 1
    try:
        dataset = Dataset.from_json(found)
        if str(dataset.get("PatientID", "")).strip() != mrn:
            # A PACS matching PatientID loosely (wildcards, case): not this patient's.
            record.studies_found -= 1
            return
        dataset.Modality = _modality(dataset)
        header = read_study(dataset)
    except (Unreadable, ValueError, TypeError, KeyError) as error:
        record.studies_refused += 1
        log.info("PACS sync: a study could not be read (%s)", type(error).__name__)
        return
    if writer.existing_exam(header) is not None:
        record.studies_known += 1
        return
    outcome, _ = writer.store(header, now)
    if outcome == Outcome.STORED:
        record.studies_recorded += 1
    elif outcome == Outcome.REFUSED:
        record.studies_refused += 1
        log.info("PACS sync: a study was refused (%s)", writer.refusal)
    else:
        record.studies_known += 1


def _modality(dataset: Dataset) -> str:
    """The study's highest-ranked modality of ModalitiesInStudy (SR, KO, PR say nothing)."""
    listed = dataset.get("ModalitiesInStudy") or dataset.get("Modality") or []
    if isinstance(listed, str):
        listed = [listed]
    ours = [MODALITIES[m] for m in (str(x).upper() for x in listed) if m in MODALITIES]
    return max(ours, key=RANK.__getitem__).value if ours else ""


def _why(error: Exception) -> str:
    """The kind of failure and the HTTP status: never a URL with a query (an MRN)."""
    response = getattr(error, "response", None)
    status = f" (HTTP {response.status_code})" if response is not None else ""
    return f"{type(error).__name__}{status}"
