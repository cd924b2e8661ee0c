"""Reading an instance's header and a dose report, without a network: what the listener and
the PACS sync make of each attribute, and what they refuse."""

from datetime import datetime
from decimal import Decimal

import pytest
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dsutils import encode

from followup.feeds.dicom.dose import NotADoseReport, read_dose_report
from followup.feeds.dicom.headers import Unreadable, headers_only, read_study

from . import objects

WHEN = datetime(2026, 3, 1, 9, 30, 15)


def study(**fields) -> objects.Study:
    return objects.Study("MRN-1", WHEN, accession="ACC-1", **fields)


@pytest.mark.parametrize(
    "syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian]
)
def test_the_header_is_read_up_to_the_pixels_in_every_transfer_syntax(syntax):
    ds = objects.image(study(), "CT", pixels=True)
    encoded = encode(ds, syntax == ImplicitVRLittleEndian, syntax != ExplicitVRBigEndian)

    read = headers_only(encoded, syntax)

    assert "PixelData" not in read
    assert read.Rows == 64  # what comes before the pixels is all there
    assert read_study(read).performed_at == "2026-03-01T09:30:15"


@pytest.mark.parametrize(
    ("modality", "expected"), [("CR", "XR"), ("DX", "XR"), ("RF", "RF"), ("SR", None)]
)
def test_modalities(modality, expected):
    ds = objects.image(study(), "CT")
    ds.Modality = modality
    assert read_study(ds).modality == expected


def test_an_offset_is_kept_and_a_date_alone_is_a_date():
    assert read_study(objects.image(study(offset="+0530"), "MR")).performed_at == (
        "2026-03-01T09:30:15+05:30"
    )
    ds = objects.image(study(), "MR")
    del ds.StudyTime
    assert read_study(ds).performed_at == "2026-03-01"


def test_a_series_date_stands_in_for_a_missing_study_date():
    ds = objects.image(study(), "US")
    del ds.StudyDate, ds.StudyTime
    ds.SeriesDate, ds.SeriesTime = "20260302", "0800"
    assert read_study(ds).performed_at == "2026-03-02T08:00:00"


@pytest.mark.parametrize(
    ("attribute", "value", "says"),
    [
        ("TimezoneOffsetFromUTC", "0100", "TimezoneOffsetFromUTC"),
        ("StudyDate", "2026-13-45", "cannot be read"),
        ("StudyInstanceUID", "", "StudyInstanceUID"),
        ("PatientID", "  ", "PatientID"),
    ],
)
def test_what_cannot_be_an_exam_is_unreadable_and_says_which_attribute(attribute, value, says):
    ds = objects.image(study(), "CT")
    setattr(ds, attribute, value)
    with pytest.raises(Unreadable, match=says):
        read_study(ds)


def test_a_biplane_fluoroscopy_report_sums_its_planes():
    ds = objects.projection_dose_report(study(), 0.001, fluoro=True)
    plane = ds.ContentSequence[1]  # Accumulated X-Ray Dose Data of the first plane
    ds.ContentSequence.append(plane)  # and the second plane's, the same

    reading = read_dose_report(ds)

    assert reading.accumulated == Decimal("20.0000")  # 2 x 0.001 Gy·m² = 20 Gy·cm²
    assert reading.modality == "RF"


def test_a_projection_report_without_fluoroscopy_is_a_radiograph():
    reading = read_dose_report(objects.projection_dose_report(study(), 0.0003))
    assert (reading.modality, reading.region) == ("XR", "abdomen_pelvis")


def test_the_region_of_a_ct_is_the_one_with_most_dlp_and_trunk_when_none_is_said():
    chest_heavy = objects.ct_dose_report(study(), [(100, objects.LUMBAR), (300, objects.CHEST)])
    assert read_dose_report(chest_heavy).region == "chest"
    unsaid = objects.ct_dose_report(study(), [(100, objects.code("X", "99L", "Something"))])
    assert read_dose_report(unsaid).region == "trunk"


@pytest.mark.parametrize(
    ("unit", "factor"), [("mGy.cm", 1), ("Gy.cm", 1000)],
)  # fmt: skip
def test_dlp_units(unit, factor):
    ds = objects.ct_dose_report(study(), [(10, objects.LUMBAR)], 10)
    total = ds.ContentSequence[1].ContentSequence[1]
    total.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue = unit
    assert read_dose_report(ds).accumulated == 10 * factor


def test_an_unknown_unit_or_a_report_of_another_kind_is_not_a_dose():
    ds = objects.ct_dose_report(study(), [(10, objects.LUMBAR)], 10)
    total = ds.ContentSequence[1].ContentSequence[1]
    total.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue = "furlong"
    with pytest.raises(NotADoseReport, match="unit"):
        read_dose_report(ds)

    other = objects.ct_dose_report(study(), [(10, objects.LUMBAR)], 10)
    other.ConceptNameCodeSequence = [objects.code("126000", "DCM", "Imaging Measurement Report")]
    with pytest.raises(NotADoseReport, match="113701"):
        read_dose_report(other)

    empty = objects.ct_dose_report(study(), [], None)
    with pytest.raises(NotADoseReport, match="Dose Length Product Total"):
        read_dose_report(empty)
