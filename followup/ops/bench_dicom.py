"""The DICOM figure's studies and its SCU: header-only CT images and a CT Radiation Dose SR
(TID 10011) per study, built with pydicom, sent with pynetdicom over one association."""

import socket
from datetime import datetime, timedelta
from functools import partial

from django.utils import timezone
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom import sop_class as sop

from followup.feeds.dicom.listener import Listener
from followup.models import DicomSource, SurgeryPlan
from imaging.models import ImagingExam
from patients.models import Patient

from . import bench_measure as measure


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _item(value_type: str, concept: Dataset, **attributes) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", value_type
    item.ConceptNameCodeSequence = Sequence([concept])
    for name, value in attributes.items():
        setattr(item, name, value)
    return item


def _instance(mrn: str, when: datetime, accession: str, study_uid: str, sop_class: str,
              modality: str) -> Dataset:  # fmt: skip
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
    ds.PatientID, ds.PatientName = mrn, "Bench^Synthetic"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid()
    ds.AccessionNumber, ds.Modality = accession, modality
    ds.StudyDate, ds.StudyTime = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    ds.TimezoneOffsetFromUTC = when.strftime("%z")
    return ds


def study(mrn: str, when: datetime, accession: str) -> list[Dataset]:
    """Two CT image headers and the study's dose report (DLP total 500 mGy·cm, lumbar)."""
    uid = generate_uid()
    images = [_instance(mrn, when, accession, uid, sop.CTImageStorage, "CT") for _ in range(2)]
    report = _instance(mrn, when, accession, uid, sop.XRayRadiationDoseSRStorage, "SR")
    dlp = Dataset()
    dlp.NumericValue = "500"
    dlp.MeasurementUnitsCodeSequence = Sequence([_code("mGy.cm", "UCUM", "mGy.cm")])
    report.ValueType, report.ContinuityOfContent = "CONTAINER", "SEPARATE"
    report.ConceptNameCodeSequence = Sequence(
        [_code("113701", "DCM", "X-Ray Radiation Dose Report")]
    )
    lumbar = Sequence([_code("122496007", "SCT", "Lumbar spine")])
    region = _item("CODE", _code("123014", "DCM", "Target Region"), ConceptCodeSequence=lumbar)
    total = _item("NUM", _code("113813", "DCM", "CT Dose Length Product Total"),
                  MeasuredValueSequence=Sequence([dlp]))  # fmt: skip
    accumulated = _item("CONTAINER", _code("113811", "DCM", "CT Accumulated Dose Data"),
                        ContinuityOfContent="SEPARATE",
                        ContentSequence=Sequence([total]))  # fmt: skip
    acquisition = _item("CONTAINER", _code("113819", "DCM", "CT Acquisition"),
                        ContinuityOfContent="SEPARATE",
                        ContentSequence=Sequence([region]))  # fmt: skip
    report.ContentSequence = Sequence([accumulated, acquisition])
    return [*images, report]


def send(port: int, calling: str, called: str, studies: list[list[Dataset]]) -> list[int]:
    """Every instance over one association; the statuses that were not success."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(sop.CTImageStorage)
    ae.add_requested_context(sop.XRayRadiationDoseSRStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        raise RuntimeError("The listener did not accept the benchmark's association.")
    try:
        return [
            status.Status
            for instances in studies
            for ds in instances
            if (status := assoc.send_c_store(ds)).Status
        ]
    finally:
        assoc.release()


# An Accession Number is a DICOM short string (SH): 16 characters at most.
DICOM_AE, DICOM_PREFIX = "BENCH-SCU", "BENCHDCM-"


def measure_figure(bench, token: str) -> None:
    """Studies stored through the storage SCP (`dicom.Listener` on loopback, fed by
    pynetdicom's SCU, one association per run): each study two image headers and its
    CT dose report, for the clinic's patients; beside the bulk ingest's floor (the
    same number of exam rows inserted by hand-written SQL). The listener's threads
    commit: what a run wrote is deleted after it, and the stale marks it set cleared."""
    records = bench._exam_records()[: bench.ingest_exams]
    mrns = dict(Patient.objects.filter(pk__in={r["patient"] for r in records})
                .values_list("pk", "mrn"))  # fmt: skip
    when = timezone.localtime(timezone.now() - timedelta(days=1), bench.clinic.zone)
    studies = [study(mrns[r["patient"]], when, f"{DICOM_PREFIX}{n:06d}")
               for n, r in enumerate(records)]  # fmt: skip
    stale_before = set(SurgeryPlan.objects.filter(stale_since__isnull=False)
                       .values_list("pk", flat=True))  # fmt: skip
    source = DicomSource.objects.create(clinic=bench.clinic, ae_title=DICOM_AE)
    listener = Listener("BENCH", "127.0.0.1", free_port())
    listener.start()
    rates, floors, stored = [], [], 0
    try:
        for _ in range(bench.repeat):
            seconds, statuses = measure.timed(
                partial(send, listener.port, DICOM_AE, "BENCH", studies)
            )
            if any(statuses):
                raise RuntimeError(f"The listener refused instances: {set(statuses)}")
            stored = ImagingExam.objects.filter(
                clinic=bench.clinic, accession_number__startswith=DICOM_PREFIX
            ).count()
            rates.append(len(studies) / seconds)
            forget(stale_before)
            with measure.rolled_back():
                seconds, _ = measure.timed(lambda: bench._ingest_floor(records))
                floors.append(len(records) / seconds)
    finally:
        listener.stop(grace=5)
        forget(stale_before)
        source.delete()
    bench.results["dicom"] = measure.figure(
        "studies/s", rates, floors, slower_is="lower", studies=len(studies),
        instances=3 * len(studies), stored=stored,
    )  # fmt: skip


def forget(stale_before: set[int]) -> None:
    ImagingExam.objects.filter(accession_number__startswith=DICOM_PREFIX).delete()
    SurgeryPlan.objects.filter(stale_since__isnull=False).exclude(pk__in=stale_before).update(
        stale_since=None
    )
