"""DICOM objects built with pydicom, as modalities send them: images of each modality (with
or without pixel data) and Radiation Dose SRs following TID 10011 (CT) and TID 10001
(projection X-ray and fluoroscopy)."""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import sop_class as sop

IMAGE_CLASSES = {
    "CR": sop.ComputedRadiographyImageStorage,
    "DX": sop.DigitalXRayImageStorageForPresentation,
    "CT": sop.CTImageStorage,
    "MR": sop.MRImageStorage,
    "NM": sop.NuclearMedicineImageStorage,
    "PT": sop.PositronEmissionTomographyImageStorage,
    "RF": sop.XRayRadiofluoroscopicImageStorage,
    "US": sop.UltrasoundImageStorage,
}


@dataclass
class Study:
    mrn: str
    when: datetime  # naive: the modality's local time
    accession: str = ""
    uid: str = ""
    offset: str = ""  # TimezoneOffsetFromUTC, e.g. "-0500"

    def __post_init__(self) -> None:
        self.uid = self.uid or generate_uid()


def _base(study: Study, sop_class: str, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientID = study.mrn
    ds.PatientName = "Synthetic^Patient"
    ds.PatientBirthDate = "19600101"
    ds.StudyInstanceUID = study.uid
    ds.SeriesInstanceUID = generate_uid()
    ds.AccessionNumber = study.accession
    ds.Modality = modality
    ds.StudyDate = study.when.strftime("%Y%m%d")
    ds.StudyTime = study.when.strftime("%H%M%S")
    if study.offset:
        ds.TimezoneOffsetFromUTC = study.offset
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    return ds


def image(study: Study, modality: str, pixels: bool = True, size: int = 64) -> Dataset:
    ds = _base(study, IMAGE_CLASSES[modality], modality)
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if pixels:
        ds.PixelData = bytes(range(256)) * (size * size * 2 // 256)
    return ds


def code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def container(concept: Dataset, children: list[Dataset], relationship="CONTAINS") -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = "CONTAINER"
    item.ConceptNameCodeSequence = Sequence([concept])
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = Sequence(children)
    return item


def number(concept: Dataset, value: float, unit: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "NUM"
    item.ConceptNameCodeSequence = Sequence([concept])
    measured = Dataset()
    measured.NumericValue = str(value)
    measured.MeasurementUnitsCodeSequence = Sequence([code(unit, "UCUM", unit)])
    item.MeasuredValueSequence = Sequence([measured])
    return item


def coded(concept: Dataset, value: Dataset, relationship="CONTAINS") -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = "CODE"
    item.ConceptNameCodeSequence = Sequence([concept])
    item.ConceptCodeSequence = Sequence([value])
    return item


REPORT = code("113701", "DCM", "X-Ray Radiation Dose Report")
PROCEDURE = code("121058", "DCM", "Procedure reported")
TARGET = code("123014", "DCM", "Target Region")
LUMBAR = code("122496007", "SCT", "Lumbar spine")
CHEST = code("43799004", "SCT", "Chest")


def _dose_sr(study: Study, procedure: Dataset, content: list[Dataset]) -> Dataset:
    ds = _base(study, sop.XRayRadiationDoseSRStorage, "SR")
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([REPORT])
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ContentDate, ds.ContentTime = ds.StudyDate, ds.StudyTime
    ds.ContentSequence = Sequence([coded(PROCEDURE, procedure, "HAS CONCEPT MOD"), *content])
    return ds


def ct_dose_report(
    study: Study, events: list[tuple[float, Dataset]], total: float | None = None
) -> Dataset:
    """TID 10011: CT Accumulated Dose Data with its DLP total (unless `total` is None and
    the report has only its events), and one CT Acquisition per (DLP, region)."""
    accumulated = [number(code("113812", "DCM", "Total Number of Irradiation Events"),
                          len(events), "{events}")]  # fmt: skip
    if total is not None:
        accumulated.append(number(code("113813", "DCM", "CT Dose Length Product Total"),
                                  total, "mGy.cm"))  # fmt: skip
    acquisitions = [
        container(code("113819", "DCM", "CT Acquisition"), [
            coded(TARGET, region),
            container(code("113829", "DCM", "CT Dose"), [
                number(code("113830", "DCM", "Mean CTDIvol"), 12.5, "mGy"),
                number(code("113838", "DCM", "DLP"), dlp, "mGy.cm"),
            ]),
        ])
        for dlp, region in events
    ]  # fmt: skip
    return _dose_sr(
        study,
        code("77477000", "SCT", "Computed Tomography X-Ray"),
        [container(code("113811", "DCM", "CT Accumulated Dose Data"), accumulated),
         *acquisitions],
    )  # fmt: skip


def projection_dose_report(
    study: Study, dap_gy_m2: float, fluoro: bool = False, region: Dataset = LUMBAR
) -> Dataset:
    """TID 10001: Accumulated X-Ray Dose Data with its Dose Area Product Total (Gy·m²), and
    one irradiation event with the same DAP (the event is never added to the total)."""
    totals = [number(code("113722", "DCM", "Dose Area Product Total"), dap_gy_m2, "Gy.m2")]
    if fluoro:
        totals += [
            number(code("113726", "DCM", "Fluoro Dose Area Product Total"), dap_gy_m2, "Gy.m2"),
            number(code("113730", "DCM", "Total Fluoro Time"), 42, "s"),
        ]
    event = container(code("113706", "DCM", "Irradiation Event X-Ray Data"), [
        coded(TARGET, region),
        number(code("122130", "DCM", "Dose Area Product"), dap_gy_m2, "Gy.m2"),
    ])  # fmt: skip
    return _dose_sr(
        study,
        code("113704", "DCM", "Projection X-Ray"),
        [container(code("113702", "DCM", "Accumulated X-Ray Dose Data"), totals), event],
    )


def write(ds: Dataset, folder: Path) -> Path:
    path = folder / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path
