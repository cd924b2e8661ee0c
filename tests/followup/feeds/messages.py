"""HL7 v2 messages in the shapes hospital systems send them."""

from datetime import datetime

FACILITY = "RAD1"


def msh(control: str, kind: str, version: str = "2.5.1", facility: str = FACILITY) -> str:
    return f"MSH|^~\\&|RIS|{facility}|FOLLOWUP|SPINE|20260301101500||{kind}|{control}|P|{version}"


def pid(mrn: str, extra: str = "", **fields) -> str:
    """PID with the MRN as an MR identifier after a national id (a repetition)."""
    name = fields.get("name", "Dupont^Marie^^^^^L")
    born = fields.get("born", "19600412")
    sex = fields.get("sex", "F")
    death = fields.get("death", "")
    indicator = fields.get("indicator", "")
    base = f"PID|1||1234567^^^NAT^NI~{mrn}^^^HOSP^MR||{name}||{born}|{sex}"
    if death or indicator:
        base += "|" * 20 + f"|{death}|{indicator}"
    return base + extra


def hl7_time(when: datetime, offset: bool = True) -> str:
    return when.strftime("%Y%m%d%H%M%S") + (when.strftime("%z") if offset else "")


def oru(control: str, mrn: str, accession: str, performed: str, modality: str = "CR",
        status: str = "F", results: tuple[str, ...] = (), version: str = "2.5.1",
        end: str = "\r", facility: str = FACILITY) -> str:  # fmt: skip
    segments = [
        msh(control, "ORU^R01^ORU_R01" if version >= "2.5" else "ORU^R01", version, facility),
        pid(mrn),
        "PV1|1|O",
        f"ORC|RE|PL{accession}|{accession}",
        f"OBR|1|PL{accession}|{accession}|XRLS^XR lumbar spine^L|||{performed}"
        + "|" * 16
        + f"|{modality}|{status}",
        *results,
    ]
    return end.join(segments) + end


def text(set_id: int, *lines: str, kind: str = "TX") -> str:
    return f"OBX|{set_id}|{kind}|REPORT^Report^L||{'~'.join(lines)}||||||F"


def finding(set_id: int, code: str, value: str, level: str = "", side: str = "",
            kind: str = "ST") -> str:  # fmt: skip
    return f"OBX|{set_id}|{kind}|{code}^{code}^SPINEFU|{level}|{value}||||||F" + (
        "|" * 8 + f"|{side}" if side else ""
    )


def adt_a08(control: str, mrn: str, version: str = "2.5.1", **fields) -> str:
    return "\r".join([msh(control, "ADT^A08^ADT_A01", version), "EVN|A08|20260301101500",
                      pid(mrn, **fields), "PV1|1|O"]) + "\r"  # fmt: skip


def adt_a40(control: str, survivor: str, merged: str, version: str = "2.5.1") -> str:
    return "\r".join([msh(control, "ADT^A40^ADT_A39", version), "EVN|A40|20260301101500",
                      pid(survivor), f"MRG|{merged}^^^HOSP^MR"]) + "\r"  # fmt: skip


def orm(control: str, mrn: str, accession: str, planned: str, modality: str = "CR",
        kind: str = "ORM^O01", version: str = "2.3", control_code: str = "NW") -> str:  # fmt: skip
    segments = [msh(control, kind, version), pid(mrn), "PV1|1|O",
                f"ORC|{control_code}|PL{accession}|{accession}"]  # fmt: skip
    if kind.startswith("OMI"):
        segments += [f"TQ1|1||||||{planned}",
                     f"OBR|1|PL{accession}|{accession}|XRLS^XR lumbar spine^L" + "|" * 19
                     + f"|{modality}"]  # fmt: skip
    else:
        segments.append(
            f"OBR|1|PL{accession}|{accession}|XRLS^XR lumbar spine^L"
            + "|" * 19
            + f"|{modality}|||^^^{planned}"
        )
    return "\r".join(segments) + "\r"
