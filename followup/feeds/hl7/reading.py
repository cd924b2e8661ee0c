"""Reading a frame: python-hl7 parses it, these helpers read fields by their HL7 place
(1-based, as the standard numbers them) and say where a bad one is.

Nothing here logs a value: a field may hold a name or report text.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import hl7


class Rejected(Exception):
    """The message cannot be taken at all (AR): not HL7, unknown facility, unsupported type."""


class ContentError(Exception):
    """A field is missing or wrong (AE): `segment`, its `sequence` among the segments of
    that name (1-based), and `field` say where; nothing is written."""

    def __init__(self, segment: str, field: int, text: str, sequence: int = 1, code: str = "102"):
        super().__init__(f"{segment}-{field}: {text}")
        self.segment, self.field, self.text, self.sequence, self.code = (
            segment, field, text, sequence, code,
        )  # fmt: skip

    @property
    def where(self) -> str:
        suffix = f"[{self.sequence}]" if self.sequence > 1 else ""
        return f"{self.segment}{suffix}-{self.field}"


class Ignored(Exception):
    """Accepted (AA) with nothing to write, e.g. a patient the clinic does not follow."""


REQUIRED = "101"  # HL7 table 0357: required field missing
DATA_TYPE = "102"  # data type error
UNKNOWN_KEY = "204"  # unknown key identifier
APPLICATION = "207"  # application internal error


@dataclass
class Segment:
    name: str
    sequence: int  # among the segments of this name, 1-based
    raw: object  # python-hl7's Segment

    def value(self, field: int, rep: int = 1, comp: int = 1, sub: int = 1) -> str:
        """The unescaped text at that place, "" when absent."""
        return unescape(self.escaped(field, rep, comp, sub))

    def escaped(self, field: int, rep: int = 1, comp: int = 1, sub: int = 1) -> str:
        try:
            node = self.raw(field)
        except IndexError:
            return ""
        for index in (rep, comp, sub):
            if isinstance(node, str):
                return node if index == 1 else ""
            try:
                node = node(index)
            except IndexError:
                return ""
        return str(node)

    def repetitions(self, field: int) -> int:
        try:
            node = self.raw(field)
        except IndexError:
            return 0
        if isinstance(node, str):
            return 1 if node else 0
        return len(node) if isinstance(node, hl7.Repetition | hl7.Field) and node else 1

    def error(self, field: int, text: str, code: str = DATA_TYPE) -> ContentError:
        return ContentError(self.name, field, text, self.sequence, code)

    def required(self, field: int, what: str, comp: int = 1) -> str:
        if not (value := self.value(field, comp=comp).strip()):
            raise self.error(field, f"{what} is required.", REQUIRED)
        return value


@dataclass
class Received:
    text: str
    segments: list[Segment]
    facility: str
    control_id: str
    message_type: str  # "ORU^R01"
    version: str

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]


SEGMENT_END = re.compile(r"\r\n|\n|\r")


def read(raw: bytes) -> Received:
    """The message of one frame, or Rejected when it is not HL7 at all."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # HL7 v2 defaults to ASCII; 8859/1 is the usual extension
    # `\n` and `\r\n` segment ends, as some interface engines send them, are `\r`.
    text = "\r".join(line for line in SEGMENT_END.split(text.strip("\x00 \t\r\n")) if line)
    if not text.startswith("MSH") or len(text) < 8:
        raise Rejected("Not an HL7 v2 message: it must start with an MSH segment.")
    if text[3] in "\r\n" or text[3].isalnum():
        raise Rejected("MSH-1 (field separator) is missing.")
    try:
        message = hl7.parse(text)
    except Exception as error:  # python-hl7 raises what it meets; the text is not echoed
        raise Rejected(f"The message cannot be parsed ({type(error).__name__}).") from None
    counts: dict[str, int] = {}
    segments = []
    for raw_segment in message:
        name = str(raw_segment[0]).strip()[:3].upper() if len(raw_segment) else ""
        counts[name] = counts.get(name, 0) + 1
        segments.append(Segment(name, counts[name], raw_segment))
    msh = segments[0]
    facility = msh.value(4).strip()
    kind, event = msh.value(9, comp=1).strip(), msh.value(9, comp=2).strip()
    return Received(
        text=text,
        segments=segments,
        facility=facility,
        control_id=msh.value(10).strip()[:199],
        message_type=f"{kind}^{event}" if event else kind,
        version=msh.value(12).strip()[:12],
    )


_ESCAPES = {"F": "|", "S": "^", "T": "&", "R": "~", "E": "\\", ".br": "\n", ".sp": "\n"}
_ESCAPE = re.compile(r"\\([^\\]*)\\")


def unescape(value: str) -> str:
    """HL7's escape sequences (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\, \\.br\\, \\Xhh\\); others are
    dropped. python-hl7's own logs the whole field on an odd sequence: a name in the logs."""
    if "\\" not in value:
        return value

    def one(match: re.Match) -> str:
        code = match[1]
        if code in _ESCAPES:
            return _ESCAPES[code]
        if code[:1] == "X" and re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", code[1:]):
            return bytes.fromhex(code[1:]).decode("latin-1")
        return ""

    return _ESCAPE.sub(one, value)


_DTM = re.compile(
    r"(?P<y>\d{4})(?P<mo>\d{2})?(?P<d>\d{2})?(?P<h>\d{2})?(?P<mi>\d{2})?(?P<s>\d{2})?"
    r"(?:\.(?P<f>\d{1,4}))?(?P<z>[+-]\d{4})?"
)


def moment(segment: Segment, field: int, what: str, comp: int = 1) -> str:
    """An HL7 DTM as the REST API takes it: a date alone, a time without an offset (the
    clinic's local time) or with one. ContentError naming the field when it is not one."""
    text = segment.required(field, what, comp=comp)
    match = _DTM.fullmatch(text)
    if not match or not match["d"]:
        raise segment.error(field, f"{what} must be an HL7 date/time (YYYYMMDD[HHMM[SS]][+ZZZZ]).")
    try:
        day = date(int(match["y"]), int(match["mo"]), int(match["d"]))
        if not match["h"]:
            return day.isoformat()
        fraction = int((match["f"] or "0").ljust(6, "0"))
        when = datetime(day.year, day.month, day.day, int(match["h"]), int(match["mi"] or 0),
                        int(match["s"] or 0), fraction)  # fmt: skip
        if zone := match["z"]:
            sign = 1 if zone[0] == "+" else -1
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
            when = when.replace(tzinfo=timezone(sign * offset))
    except ValueError:
        raise segment.error(field, f"{what} is not a valid date/time.") from None
    return when.isoformat()


def day(segment: Segment, field: int, what: str) -> str | None:
    """An HL7 date (or the date of a DTM), ISO; None when absent."""
    if not segment.value(field).strip():
        return None
    return moment(segment, field, what)[:10]
