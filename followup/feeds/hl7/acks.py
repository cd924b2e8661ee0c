"""The ACK of a message (original mode): MSA-1 AA, AE or AR, MSA-2 its MSH-10; for AE
and AR an ERR that names the segment and field (v2.3's ERR-1 and v2.5's ERR-2..8 both,
so that either reader finds it)."""

from datetime import datetime

from django.utils import timezone

from .reading import ContentError

APPLICATION = "FOLLOWUP"
FACILITY = "SPINEFU"

_ESCAPE = str.maketrans({"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\",
                         "\r": " ", "\n": " "})  # fmt: skip


def escape(value: str) -> str:
    return value.translate(_ESCAPE)


def ack(
    code: str,
    *,
    control_id: str = "",
    to_application: str = "",
    to_facility: str = "",
    event: str = "",
    version: str = "2.5.1",
    text: str = "",
    error: ContentError | None = None,
    now: datetime | None = None,
) -> bytes:
    now = timezone.localtime(now or timezone.now(), timezone.get_fixed_timezone(0))
    stamp = now.strftime("%Y%m%d%H%M%S") + "+0000"
    ack_id = f"A{now:%Y%m%d%H%M%S%f}"
    segments = [
        f"MSH|^~\\&|{APPLICATION}|{FACILITY}|{escape(to_application)}|{escape(to_facility)}|"
        f"{stamp}||ACK^{escape(event)}^ACK|{ack_id}|P|{escape(version or '2.5.1')}",
        f"MSA|{code}|{escape(control_id)}|{escape(text[:80])}",
    ]
    if error is not None:
        where = f"{error.segment}^{error.sequence}^{error.field}"
        label = {"101": "Required field missing", "102": "Data type error",
                 "204": "Unknown key identifier"}.get(error.code, "Application error")  # fmt: skip
        segments.append(
            f"ERR|{where}^{error.code}&{label}&HL70357|{where}|{error.code}^{label}^HL70357|E"
            f"||||{escape(error.text)}"
        )
    elif code != "AA" and text:
        segments.append(f"ERR||||E||||{escape(text)}")
    return ("\r".join(segments) + "\r").encode("utf-8")
