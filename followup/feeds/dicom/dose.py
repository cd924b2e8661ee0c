"""A Radiation Dose SR read into what the study accumulated, by pydicom's dataset tree.

- CT (TID 10011): CT Accumulated Dose Data (113811) / CT Dose Length Product Total (113813),
  in mGy·cm. Without it, the sum of the CT Acquisitions' (113819) DLP (113838).
- Projection radiography and fluoroscopy (TID 10001): each Accumulated X-Ray Dose Data
  (113702, one per plane) / Dose Area Product Total (113722), in Gy·m², summed over the
  planes. Without it, the sum of the Irradiation Event X-Ray Data's (113706) Dose Area
  Product (122130).

The accumulated total is the report's word: its events are never added to it, so a report
is counted once whatever it holds. The body region (for the coefficient) is the Target
Region (123014) of the events, weighted by their dose; none known: the trunk.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pydicom import Dataset
from pydicom.uid import XRayRadiationDoseSRStorage

from followup.models import BodyRegion, DoseKind
from imaging.models import Modality

REPORT = ("DCM", "113701")  # X-Ray Radiation Dose Report
CT_ACCUMULATED, DLP_TOTAL = ("DCM", "113811"), ("DCM", "113813")
CT_ACQUISITION, DLP = ("DCM", "113819"), ("DCM", "113838")
XRAY_ACCUMULATED, DAP_TOTAL = ("DCM", "113702"), ("DCM", "113722")
FLUORO_DAP_TOTAL, FLUORO_TIME = ("DCM", "113726"), ("DCM", "113730")
XRAY_EVENT, DAP = ("DCM", "113706"), ("DCM", "122130")
TARGET_REGION = ("DCM", "123014")

# To mGy·cm (CT) and Gy·cm² (projection): the UCUM units modalities use.
DLP_UNITS = {"mGy.cm": Decimal(1), "Gy.cm": Decimal(1000), "mGy.mm": Decimal("0.1")}
DAP_UNITS = {"Gy.m2": Decimal(10000), "Gy.cm2": Decimal(1), "dGy.cm2": Decimal("0.1"),
             "cGy.cm2": Decimal("0.01"), "mGy.cm2": Decimal("0.001"),
             "uGy.m2": Decimal("0.01"), "mGy.m2": Decimal(10)}  # fmt: skip

# A target region by the words of its code meaning, first match wins (a spine study takes
# the region the published coefficients give for the part of the body that holds it).
REGION_WORDS = (
    (("chest", "abdomen"), BodyRegion.TRUNK),
    (("thorax", "abdomen"), BodyRegion.TRUNK),
    (("whole body",), BodyRegion.TRUNK),
    (("entire spine",), BodyRegion.TRUNK),
    (("whole spine",), BodyRegion.TRUNK),
    (("thoracolumbar",), BodyRegion.TRUNK),
    (("head", "neck"), BodyRegion.HEAD_NECK),
    (("lumb",), BodyRegion.ABDOMEN_PELVIS),
    (("sacr",), BodyRegion.ABDOMEN_PELVIS),
    (("abdom",), BodyRegion.ABDOMEN_PELVIS),
    (("pelvi",), BodyRegion.ABDOMEN_PELVIS),
    (("hip",), BodyRegion.ABDOMEN_PELVIS),
    (("thoracic spine",), BodyRegion.CHEST),
    (("chest",), BodyRegion.CHEST),
    (("thorax",), BodyRegion.CHEST),
    (("cervical",), BodyRegion.NECK),
    (("neck",), BodyRegion.NECK),
    (("head",), BodyRegion.HEAD),
    (("brain",), BodyRegion.HEAD),
    (("skull",), BodyRegion.HEAD),
    (("spine",), BodyRegion.TRUNK),
)
# The same, by code, for a report that sends a code without its meaning.
REGION_CODES = {
    ("SCT", "122496007"): BodyRegion.ABDOMEN_PELVIS,  # lumbar spine
    ("SCT", "122495006"): BodyRegion.CHEST,  # thoracic spine
    ("SCT", "122494005"): BodyRegion.NECK,  # cervical spine
    ("SCT", "818981001"): BodyRegion.ABDOMEN_PELVIS,  # abdomen
    ("SCT", "816092008"): BodyRegion.ABDOMEN_PELVIS,  # pelvis
    ("SCT", "43799004"): BodyRegion.CHEST,
    ("SCT", "69536005"): BodyRegion.HEAD,
    ("SCT", "45048000"): BodyRegion.NECK,
    ("SRT", "T-D4000"): BodyRegion.ABDOMEN_PELVIS,
    ("SRT", "T-D6000"): BodyRegion.ABDOMEN_PELVIS,
    ("SRT", "T-D3000"): BodyRegion.CHEST,
    ("SRT", "T-D1100"): BodyRegion.HEAD,
    ("SRT", "T-D1600"): BodyRegion.NECK,
}


class NotADoseReport(ValueError):
    pass


@dataclass(frozen=True)
class DoseReading:
    kind: DoseKind
    accumulated: Decimal  # mGy·cm (CT) or Gy·cm² (projection)
    from_events: bool
    region: BodyRegion
    modality: Modality  # what the study is, for an exam the report arrives before


def is_dose_report(ds: Dataset) -> bool:
    return str(ds.get("SOPClassUID", "")) == XRayRadiationDoseSRStorage


def read_dose_report(ds: Dataset) -> DoseReading:
    """The study's accumulated dose; `NotADoseReport` names what is missing."""
    if _concept(ds) != REPORT:
        raise NotADoseReport("The SR's title is not X-Ray Radiation Dose Report (113701).")
    tree = list(_items(ds))
    if any(_concept(item) == CT_ACCUMULATED for item, _ in tree):
        return _ct(tree)
    if any(_concept(item) == XRAY_ACCUMULATED for item, _ in tree):
        return _projection(tree)
    raise NotADoseReport("No CT Accumulated Dose Data (113811) or Accumulated X-Ray Dose (113702).")


def _ct(tree) -> DoseReading:
    totals = [_number(item, DLP_UNITS) for item, parent in tree
              if _concept(item) == DLP_TOTAL and _concept(parent) == CT_ACCUMULATED]  # fmt: skip
    events = _events(tree, CT_ACQUISITION, DLP, DLP_UNITS)
    total, from_events = _total(totals, events, "CT Dose Length Product Total (113813)")
    return DoseReading(DoseKind.CT_DLP, total, from_events, _region(events), Modality.CT)


def _projection(tree) -> DoseReading:
    totals = [_number(item, DAP_UNITS) for item, parent in tree
              if _concept(item) == DAP_TOTAL and _concept(parent) == XRAY_ACCUMULATED]  # fmt: skip
    events = _events(tree, XRAY_EVENT, DAP, DAP_UNITS)
    total, from_events = _total(totals, events, "Dose Area Product Total (113722)")
    fluoro = any(
        _number(item, None) > 0
        for item, _ in tree
        if _concept(item) in (FLUORO_DAP_TOTAL, FLUORO_TIME)
    )
    modality = Modality.RF if fluoro else Modality.XR
    return DoseReading(DoseKind.PROJECTION_DAP, total, from_events, _region(events), modality)


def _total(totals: list[Decimal], events, what: str) -> tuple[Decimal, bool]:
    if totals:
        return sum(totals, Decimal(0)), False  # one per plane of a biplane system
    if events:
        return sum((dose for dose, _ in events), Decimal(0)), True
    raise NotADoseReport(f"No {what} and no irradiation event with a dose.")


def _events(tree, container, dose_concept, units) -> list[tuple[Decimal, BodyRegion | None]]:
    """Each irradiation event's dose and target region."""
    found = []
    for item, _ in tree:
        if _concept(item) != container:
            continue
        inner = list(_items(item))
        doses = [_number(child, units) for child, _ in inner if _concept(child) == dose_concept]
        regions = [_region_of(child) for child, _ in inner if _concept(child) == TARGET_REGION]
        if doses:
            found.append((doses[0], next((r for r in regions if r), None)))
    return found


def _region(events) -> BodyRegion:
    weight: dict[BodyRegion, Decimal] = defaultdict(Decimal)
    for dose, region in events:
        if region is not None:
            weight[region] += dose
    if not weight:
        return BodyRegion.TRUNK
    return max(weight, key=lambda region: weight[region])


def _region_of(item: Dataset) -> BodyRegion | None:
    codes = item.get("ConceptCodeSequence") or []
    if not codes:
        return None
    code = codes[0]
    meaning = str(code.get("CodeMeaning", "")).lower()
    for words, region in REGION_WORDS:
        if meaning and all(word in meaning for word in words):
            return region
    key = (str(code.get("CodingSchemeDesignator", "")), str(code.get("CodeValue", "")))
    return REGION_CODES.get(key)


def _items(node: Dataset, parent: Dataset | None = None):
    """Every content item under `node`, depth first, with its parent."""
    for item in node.get("ContentSequence") or []:
        yield item, node
        yield from _items(item, item)


def _concept(item: Dataset | None) -> tuple[str, str] | None:
    names = item.get("ConceptNameCodeSequence") if item is not None else None
    if not names:
        return None
    return (str(names[0].get("CodingSchemeDesignator", "")), str(names[0].get("CodeValue", "")))


def _number(item: Dataset, units: dict[str, Decimal] | None) -> Decimal:
    try:
        measured = item.MeasuredValueSequence[0]
        value = Decimal(str(measured.NumericValue))
    except (AttributeError, IndexError, InvalidOperation):
        raise NotADoseReport("A numeric content item has no value.") from None
    if not value.is_finite() or value < 0:
        raise NotADoseReport("A dose is negative or not a number.")
    if units is None:
        return value
    unit = str(measured.MeasurementUnitsCodeSequence[0].CodeValue)
    if unit not in units:
        raise NotADoseReport(f"Unknown dose unit {unit[:20]!r}.")
    return value * units[unit]
