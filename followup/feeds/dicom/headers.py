"""What a study is, read from one instance's header: the data the REST API takes for an exam.

Only the header is decoded: reading stops before the pixel data (`headers_only`), which is
never decoded, kept or written anywhere. API_CONTRACT, "Hospital feeds / DICOM": PatientID
is the MRN; AccessionNumber; Modality (`CR` and `DX` are `XR`); StudyDate + StudyTime, with
TimezoneOffsetFromUTC when present, else the clinic's local time.
"""

import zlib
from dataclasses import dataclass
from io import BytesIO

from pydicom import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian
from pydicom.valuerep import DA, TM

from imaging.models import Modality

# DICOM modality -> the exam's modality. An instance of another modality (SR, KO, PR...)
# says nothing about what the study is.
MODALITIES = {"CR": Modality.XR, "DX": Modality.XR, "XR": Modality.XR} | {
    code: Modality(code) for code in ("CT", "MR", "NM", "PT", "RF", "US")
}
# A study holding instances of several modalities (a PET-CT, a SPECT-CT, fluoroscopy with
# spot films) is the exam of its highest-ranked one: the CT of a PET-CT is the attenuation
# map, the spot films of a fluoroscopy are part of it.
RANK = {Modality.PT: 6, Modality.NM: 5, Modality.CT: 4, Modality.MR: 3, Modality.RF: 2,
        Modality.XR: 1, Modality.US: 0}  # fmt: skip

# Where the time of a study is: the study's own, else the series', the acquisition's or,
# for an SR, its content's.
WHEN = (("StudyDate", "StudyTime"), ("SeriesDate", "SeriesTime"),
        ("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime"))  # fmt: skip

PIXELS = 0x7FE00000  # (7FE0,0008) float, (7FE0,0009) double, (7FE0,0010) pixel data


class Unreadable(ValueError):
    """The instance cannot be made into an exam: the message names the attribute (never its
    value: it may be PHI)."""


@dataclass(frozen=True)
class StudyHeader:
    study_uid: str
    patient_id: str
    accession: str
    modality: Modality | None
    # What ClinicDateTimeField takes: ISO 8601 with an offset, a local time, or a date.
    performed_at: str
    sop_class_uid: str
    sop_instance_uid: str

    @property
    def signature(self) -> tuple:
        """What an exam is made of: another instance with the same needs no write."""
        return (self.patient_id, self.accession, self.modality, self.performed_at)


def headers_only(encoded: BytesIO | bytes, transfer_syntax: str) -> Dataset:
    """The dataset of a C-STORE request, decoded up to (not including) its pixel data."""
    data = encoded.getvalue() if isinstance(encoded, BytesIO) else encoded
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        data = zlib.decompress(data, -zlib.MAX_WBITS)
    return read_dataset(
        BytesIO(data),
        is_implicit_VR=transfer_syntax == ImplicitVRLittleEndian,
        is_little_endian=transfer_syntax != ExplicitVRBigEndian,
        stop_when=lambda tag, vr, length: tag >= PIXELS,
    )


def read_study(ds: Dataset) -> StudyHeader:
    try:
        study_uid = str(ds.get("StudyInstanceUID", "") or "").strip()
        patient_id = str(ds.get("PatientID", "") or "").strip()
        accession = str(ds.get("AccessionNumber", "") or "").strip()
        modality = MODALITIES.get(str(ds.get("Modality", "") or "").strip().upper())
        performed_at = _performed_at(ds)
    except Unreadable:
        raise
    except (ValueError, TypeError, AttributeError) as error:
        raise Unreadable(f"An attribute cannot be read ({type(error).__name__}).") from None
    if not study_uid or len(study_uid) > 64:
        raise Unreadable("StudyInstanceUID (0020,000D) is missing or too long.")
    if not patient_id:
        raise Unreadable("PatientID (0010,0020) is missing.")
    return StudyHeader(
        study_uid=study_uid,
        patient_id=patient_id,
        accession=accession[:64],
        modality=modality,
        performed_at=performed_at,
        sop_class_uid=str(ds.get("SOPClassUID", "") or ""),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "") or ""),
    )


def _performed_at(ds: Dataset) -> str:
    """The first date and time of WHEN, with TimezoneOffsetFromUTC when the instance gives
    one."""
    found = next(((date_name, time_name) for date_name, time_name in WHEN
                  if str(ds.get(date_name, "") or "").strip()), None)  # fmt: skip
    if found is None:
        raise Unreadable("StudyDate (0008,0020) is missing.")
    date_name, time_name = found
    raw_date = str(ds.get(date_name)).strip()
    day = DA(raw_date)
    if day is None:
        raise Unreadable(f"{date_name} is not a date.")
    raw_time = str(ds.get(time_name, "") or "").strip()
    if not raw_time:
        return day.isoformat()
    moment = TM(raw_time)
    if moment is None:
        raise Unreadable(f"{time_name} is not a time.")
    local = f"{day.isoformat()}T{moment.replace(microsecond=0).isoformat()}"
    offset = str(ds.get("TimezoneOffsetFromUTC", "") or "").strip()
    if not offset:
        return local
    if len(offset) != 5 or offset[0] not in "+-" or not offset[1:].isdigit():
        raise Unreadable("TimezoneOffsetFromUTC (0008,0201) is not +HHMM or -HHMM.")
    return f"{local}{offset[:3]}:{offset[3:]}"
