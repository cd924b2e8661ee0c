"""One message, exactly once: the log row and the records it writes commit together, and
the ACK is sent only after that commit (the listener's part).

(source, MSH-10) is unique. The row is claimed with INSERT ... ON CONFLICT DO NOTHING:
a second listener handed the same message waits for the first one's transaction, then
finds the row processed and answers AA without touching anything; a sender's retry after
a listener was killed between commit and ACK finds it the same way. A message that was
refused (AE, or AR for a temporary failure) is processed again when sent again.

Audit: every write runs in a pghistory context naming the source (`hl7_source`), as the
API's run in one naming the client. Logs say the type, control id, source and ACK code:
never a name, an MRN or report text.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import pghistory
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from followup.models import Hl7Message, Hl7Source, Hl7Status
from followup.pipeline import feed_monitor

from . import acks, handlers
from .reading import ContentError, Ignored, Received, Rejected, read

log = logging.getLogger(__name__)

# last_message_at is written at most this often per source (seconds): a row every
# message would make the source's row a lock every transaction of that feed waits on.
TOUCH_EVERY = 30


@dataclass
class Answer:
    code: str
    ack: bytes
    message_id: int | None = None
    duplicate: bool = False


def process(raw: bytes, now: datetime | None = None) -> Answer:
    """Read, route, claim, handle, log; the ACK to send once this returns (committed)."""
    now = now or timezone.now()
    try:
        received = read(raw)
    except Rejected as refusal:
        return _reject(raw, None, None, str(refusal), now)
    source = Hl7Source.objects.filter(facility=received.facility).first()
    if source is None:
        return _reject(raw, received, None, "Unknown sending facility (MSH-4).", now)
    if received.message_type not in handlers.HANDLERS:
        return _reject(raw, received, source, "Unsupported message type (MSH-9).", now)
    if not received.control_id:
        return _reject(raw, received, source, "MSH-10 (message control id) is required.", now)
    answer = _handle(source, received, now)
    _touch_source(source, now)
    return answer


def replay(message: Hl7Message, now: datetime | None = None) -> Answer:
    """Process a logged message again, whatever its status (the admin's replay)."""
    now = now or timezone.now()
    received = read(message.raw.encode("utf-8"))
    if message.source is None or received.message_type not in handlers.HANDLERS:
        return _reject(message.raw.encode(), received, message.source, "Cannot replay.", now)
    return _handle(message.source, received, now, again=True)


def _handle(source: Hl7Source, received: Received, now: datetime, again: bool = False) -> Answer:
    with transaction.atomic():
        row, fresh = _claim(source, received, now)
        if not fresh and not again and row.status in (Hl7Status.PROCESSED, Hl7Status.IGNORED):
            _log(received, source, "AA", "duplicate")
            return Answer("AA", _ack("AA", received, now, "Already processed."), row.pk, True)
        ctx = handlers.Context(source.clinic_id, source.actor, now)
        error, note = None, ""
        with pghistory.context(hl7_source=source.facility, hl7_message=row.pk):
            try:
                with transaction.atomic():
                    handlers.HANDLERS[received.message_type](ctx, received)
                status = Hl7Status.PROCESSED
            except Ignored as ignored:
                status, note = Hl7Status.IGNORED, str(ignored)
            except ContentError as content:
                status, error, ctx.touched = Hl7Status.ERROR, content, {}
        code = "AE" if error else "AA"
        Hl7Message.objects.filter(pk=row.pk).update(
            status=status,
            ack_code=code,
            error=f"{error.where}: {error.text}" if error else note,
            summary=ctx.summary | {"type": received.message_type, "version": received.version},
            touched=ctx.touched,
            processed_at=now,
            attempts=row.attempts + (0 if fresh else 1),
            raw=received.text,
        )
    _log(received, source, code, error.where if error else status)
    return Answer(code, _ack(code, received, now, note, error), row.pk)


def _claim(source: Hl7Source, received: Received, now: datetime) -> tuple[Hl7Message, bool]:
    table = Hl7Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (source_id, facility, control_id, message_type, version, raw,"
            " summary, status, ack_code, error, touched, received_at, attempts)"
            " VALUES (%s, %s, %s, %s, %s, %s, '{}', %s, '', '', '{}', %s, 1)"
            " ON CONFLICT (source_id, control_id) WHERE source_id IS NOT NULL DO NOTHING"
            " RETURNING id",
            [source.pk, received.facility[:180], received.control_id, received.message_type[:20],
             received.version, received.text, Hl7Status.PROCESSING, now],
        )  # fmt: skip
        inserted = cursor.fetchone()
    if inserted is not None:  # ours, locked by the insert until the commit
        return Hl7Message(pk=inserted[0], status=Hl7Status.PROCESSING, attempts=1), True
    row = Hl7Message.objects.select_for_update().get(source=source, control_id=received.control_id)
    return row, False


def _reject(raw: bytes, received: Received | None, source, why: str, now: datetime) -> Answer:
    """AR, and the message kept (without a source when none maps it)."""
    row = Hl7Message.objects.create(
        source=None,
        facility=(received.facility if received else "")[:180],
        control_id=received.control_id if received else "",
        message_type=(received.message_type if received else "")[:20],
        version=received.version if received else "",
        raw=received.text if received else raw.decode("utf-8", "replace").replace("\x00", ""),
        status=Hl7Status.REJECTED,
        ack_code="AR",
        error=why,
        received_at=now,
        processed_at=now,
        summary={"source_id": source.pk} if source else {},
    )
    if received is None:
        log.info("HL7 frame rejected: %s", why)
        return Answer("AR", acks.ack("AR", text=why, now=now), row.pk)
    _log(received, source, "AR", why)
    return Answer("AR", _ack("AR", received, now, why), row.pk)


def _ack(code, received: Received, now, text="", error: ContentError | None = None) -> bytes:
    msh = received.segments[0]
    return acks.ack(
        code,
        control_id=received.control_id,
        to_application=msh.value(3),
        to_facility=received.facility,
        event=msh.value(9, comp=2),
        version=received.version,
        text=text,
        error=error,
        now=now,
    )


_touched_at: dict[int, datetime] = {}


def _touch_source(source: Hl7Source, now: datetime) -> None:
    """The source was heard from: its last message time (at most every TOUCH_EVERY
    seconds, by this process or another), and its feed-silence episode resolved."""
    every = timedelta(seconds=TOUCH_EVERY)
    last = _touched_at.get(source.pk)
    if last is not None and last <= now < last + every:
        return
    _touched_at[source.pk] = now
    stale = Q(last_message_at__isnull=True) | Q(last_message_at__lt=now - every)
    if Hl7Source.objects.filter(stale, pk=source.pk).update(last_message_at=now):
        # A silent feed's episode ends with its next message (pipeline/feed_monitor.py);
        # a source heard from within TOUCH_EVERY has no open episode.
        feed_monitor.heard_from(source.pk, now)


def _log(received: Received, source, code: str, outcome: str) -> None:
    log.info(
        "HL7 %s %s from %s: %s (%s)",
        received.message_type,
        received.control_id[:40],
        source.facility if source else received.facility[:40],
        code,
        outcome,
    )
