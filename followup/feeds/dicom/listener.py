"""The storage SCP (`manage.py dicom_listener`): pynetdicom accepting the storage classes of
API_CONTRACT "Hospital feeds / DICOM" from the calling AE titles the sources map.

- An association from an AE title no source maps is rejected (permanent, "calling AE title
  not recognised"), as is one addressed to another called AE title. Beyond
  DICOM_MAX_ASSOCIATIONS at once, a new one is rejected as transient (local limit).
- Each instance is decoded up to its pixel data and no further (`headers.headers_only`);
  nothing is written to disk. It lands through `storing.Writer` in the association's
  thread, in a transaction of its own, before its C-STORE response is sent.
- Answers: success once the exam is committed (or when the instance needs no change, is
  of a patient the clinic does not follow, or is refused by the REST API's validation:
  the reason is kept on the source, sending it again would not change it); 0xC000
  "cannot understand" for an instance with no study, patient or date; 0xA700 "out of
  resources" when the database failed, so the sender tries again.
- The source's counters and last-seen time are written once per association, when it ends.
- Garbage on the port, an aborted association or a dropped connection end that one
  association; the others and the listener go on. SIGTERM stops accepting, lets the
  associations under way finish (DICOM_SHUTDOWN_GRACE seconds), aborts the rest.

Logs name the AE title and counts, never a patient, a UID or an accession number.
"""

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.db.models import F
from django.utils import timezone
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom import sop_class as sop

from followup.models import DicomSource, DroppedStudy

from .dose import NotADoseReport, is_dose_report, read_dose_report
from .headers import Unreadable, headers_only, read_study
from .storing import Outcome, Writer

log = logging.getLogger(__name__)

STORAGE_CLASSES = (
    sop.ComputedRadiographyImageStorage,  # CR
    sop.DigitalXRayImageStorageForPresentation,  # DX
    sop.DigitalXRayImageStorageForProcessing,
    sop.CTImageStorage,
    sop.EnhancedCTImageStorage,
    sop.LegacyConvertedEnhancedCTImageStorage,
    sop.MRImageStorage,
    sop.EnhancedMRImageStorage,
    sop.LegacyConvertedEnhancedMRImageStorage,
    sop.NuclearMedicineImageStorage,
    sop.PositronEmissionTomographyImageStorage,
    sop.EnhancedPETImageStorage,
    sop.LegacyConvertedEnhancedPETImageStorage,
    sop.XRayRadiofluoroscopicImageStorage,
    sop.EnhancedXRFImageStorage,
    sop.UltrasoundImageStorage,
    sop.UltrasoundMultiFrameImageStorage,
    sop.XRayRadiationDoseSRStorage,
)

SUCCESS, CANNOT_UNDERSTAND, OUT_OF_RESOURCES = 0x0000, 0xC000, 0xA700


@dataclass
class Session:
    """One association: its source, and what it has already written."""

    source: DicomSource
    writer: Writer
    seen: dict[str, tuple] = field(default_factory=dict)  # study UID -> header signature
    # Instances of dropped studies not counted yet (the first was): study UID -> count.
    dropped: dict[str, int] = field(default_factory=dict)
    received: int = 0
    refused: int = 0


class Listener:
    def __init__(self, ae_title: str, host: str, port: int) -> None:
        self.ae_title, self.host, self.port = ae_title, host, port
        self.sessions: dict[int, Session] = {}
        self.lock = threading.Lock()
        self.ae = AE(ae_title=ae_title)
        self.ae.require_called_aet = True
        self.ae.maximum_associations = settings.DICOM_MAX_ASSOCIATIONS
        self.ae.maximum_pdu_size = settings.DICOM_MAX_PDU_SIZE
        self.ae.acse_timeout = settings.DICOM_ACSE_TIMEOUT
        self.ae.dimse_timeout = settings.DICOM_TIMEOUT
        self.ae.network_timeout = settings.DICOM_TIMEOUT
        for storage_class in STORAGE_CLASSES:
            self.ae.add_supported_context(storage_class, ALL_TRANSFER_SYNTAXES)
        self.server = None

    def start(self) -> None:
        handlers = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_RELEASED, self._on_end),
            (evt.EVT_ABORTED, self._on_end),
        ]
        self.server = self.ae.start_server((self.host, self.port), block=False,
                                           evt_handlers=handlers)  # fmt: skip
        log.info("DICOM listener %s on %s:%s", self.ae_title, self.host, self.port)

    def stop(self, grace: float) -> None:
        """Stop accepting; let the associations under way end, then abort what is left."""
        if self.server is None:
            return
        server, self.server = self.server, None
        server.shutdown()
        log.info("DICOM listener %s stopping: %s association(s) under way", self.ae_title,
                 len(server.active_associations))  # fmt: skip
        deadline = time.monotonic() + grace
        while server.active_associations and time.monotonic() < deadline:
            time.sleep(0.1)
        for assoc in server.active_associations:
            assoc.abort()
        log.info("DICOM listener %s stopped", self.ae_title)

    # --- events, each in the association's thread ------------------------------------------

    def _on_requested(self, event) -> None:
        calling = event.assoc.requestor.primitive.calling_ae_title.strip()
        try:
            close_old_connections()
            source = DicomSource.objects.filter(ae_title=calling).first()
        except DatabaseError:
            log.warning("DICOM association from %s: database unavailable", calling[:16])
            event.assoc.acse.send_reject(0x02, 0x01, 0x01)  # transient, no reason given
            return
        if source is None:
            log.info("DICOM association rejected: unknown calling AE title %r", calling[:16])
            event.assoc.acse.send_reject(0x01, 0x01, 0x03)  # calling AE title not recognised
            return
        with self.lock:
            self.sessions[id(event.assoc)] = Session(
                source, Writer(source.clinic_id, source.actor, source)
            )

    def _on_store(self, event) -> int:
        session = self.sessions.get(id(event.assoc))
        if session is None:  # not through EVT_REQUESTED: never stored
            return OUT_OF_RESOURCES
        session.received += 1
        try:
            dataset = headers_only(event.request.DataSet, event.context.transfer_syntax)
            header = read_study(dataset)
            dose = read_dose_report(dataset) if is_dose_report(dataset) else None
        except (Unreadable, NotADoseReport) as refusal:
            return self._refuse(session, str(refusal), CANNOT_UNDERSTAND)
        except Exception as error:  # a dataset pydicom cannot decode: garbage inside a PDU
            return self._refuse(session, f"Undecodable dataset ({type(error).__name__}).",
                                CANNOT_UNDERSTAND)  # fmt: skip
        if dose is None and session.seen.get(header.study_uid) == header.signature:
            if header.study_uid in session.dropped:
                session.dropped[header.study_uid] += 1
            return SUCCESS  # this association already wrote what this instance says
        try:
            outcome, _ = session.writer.store(header, timezone.now(), dose)
        except DatabaseError:
            log.warning("DICOM instance from %s not stored: database error",
                        session.source.ae_title)  # fmt: skip
            close_old_connections()
            return OUT_OF_RESOURCES
        if outcome == Outcome.REFUSED:
            session.refused += 1
            return SUCCESS
        session.seen[header.study_uid] = header.signature
        if outcome == Outcome.DROPPED:
            session.dropped.setdefault(header.study_uid, 0)
        return SUCCESS

    def _refuse(self, session: Session, reason: str, status: int) -> int:
        session.refused += 1
        session.writer.refusal = reason
        log.info("DICOM instance from %s refused: %s", session.source.ae_title, reason)
        return status

    def _on_end(self, event) -> None:
        with self.lock:
            session = self.sessions.pop(id(event.assoc), None)
        if session is None:
            return
        counts = session.writer.counts
        log.info(
            "DICOM association from %s ended: %s instances, %s",
            session.source.ae_title,
            session.received,
            ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "none stored",
        )
        try:
            update = {"last_seen_at": timezone.now(),
                      "instances_received": F("instances_received") + session.received,
                      "instances_refused": F("instances_refused") + session.refused}  # fmt: skip
            if session.writer.refusal:
                update["last_refusal"] = session.writer.refusal
            DicomSource.objects.filter(pk=session.source.pk).update(**update)
            for study_uid, more in session.dropped.items():
                if more:
                    DroppedStudy.objects.filter(
                        source=session.source, study_instance_uid=study_uid
                    ).update(instances=F("instances") + more)
        except DatabaseError:
            log.warning("DICOM source %s: counters not written", session.source.ae_title)
        finally:
            connection.close()  # this association's thread ends here
