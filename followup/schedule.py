"""Planning a surgery's checkpoints from its protocol, in the clinic's time zone.

Day 0 is the surgery's local date. A window "opens on day N" at the start of that
local day and "is due on day M" at the end of that local day, so DST changes and
time zones east or west of UTC fall where a person expects them.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from patients.models import ClinicalEvent, Surgery

from .alerts_lifecycle import resolve_checkpoint_alerts
from .models import Checkpoint, CheckpointDefinition, CheckpointKind, Protocol
from .models.protocols import ProtocolFamily


def local_day_start(day0: date, day: int, zone: ZoneInfo) -> datetime:
    """The instant the local day `day0 + day` begins."""
    return datetime.combine(day0 + timedelta(days=day), time.min, tzinfo=zone)


def day_of(surgery: Surgery, when: datetime) -> int:
    """Days since the surgery, counted on the clinic's calendar (day 0 = surgery date)."""
    zone = surgery.clinic.zone
    return (
        timezone.localtime(when, zone).date()
        - timezone.localtime(surgery.performed_at, zone).date()
    ).days


@dataclass(frozen=True)
class Window:
    opens_at: datetime
    due_at: datetime
    overdue_at: datetime


def window(definition: CheckpointDefinition, performed_at: datetime, zone: ZoneInfo) -> Window:
    day0 = timezone.localtime(performed_at, zone).date()
    if definition.kind == CheckpointKind.MILESTONE:
        at = local_day_start(day0, definition.due_day, zone)
        return Window(at, at, at)
    return Window(
        opens_at=local_day_start(day0, definition.opens_day, zone),
        due_at=local_day_start(day0, definition.due_day + 1, zone),
        overdue_at=local_day_start(day0, definition.due_day + 1 + definition.grace_days, zone),
    )


def _protocol_for(surgery: Surgery, onto_current: bool) -> Protocol | None:
    kept = surgery.protocol
    if kept is not None and kept.family == surgery.family and not onto_current:
        return kept  # a surgery keeps the version it was planned with
    return Protocol.objects.current(surgery.family, surgery.clinic_id)


def _open(checkpoint: Checkpoint) -> bool:
    return checkpoint.satisfied_by_id is None and checkpoint.waived_at is None


@transaction.atomic
def plan(surgery: Surgery, now: datetime, *, onto_current: bool = False) -> None:
    """Create, move or remove the surgery's checkpoints; satisfied or waived ones stay."""
    protocol = _protocol_for(surgery, onto_current)
    if surgery.protocol_id != (protocol and protocol.pk):
        surgery.protocol = protocol
        Surgery.objects.filter(pk=surgery.pk).update(protocol=protocol)
    definitions = list(protocol.definitions.all()) if protocol else []
    wanted = {definition.code: definition for definition in definitions}
    existing = {
        checkpoint.code: checkpoint
        for checkpoint in surgery.checkpoints.exclude(kind=CheckpointKind.WORKUP)
    }
    zone = surgery.clinic.zone

    gone = [c.pk for code, c in existing.items() if code not in wanted and _open(c)]
    Checkpoint.objects.filter(pk__in=gone).delete()

    to_create, to_update, moved_out_of_overdue = [], [], []
    for code, definition in wanted.items():
        span = window(definition, surgery.performed_at, zone)
        checkpoint = existing.get(code)
        if checkpoint is None:
            to_create.append(_new_checkpoint(surgery, definition, span))
        elif _open(checkpoint) and _moved(checkpoint, definition, span):
            _apply(checkpoint, definition, span)
            if checkpoint.overdue_since and checkpoint.overdue_at > now:
                checkpoint.overdue_since = None
                moved_out_of_overdue.append(checkpoint)
            to_update.append(checkpoint)
    Checkpoint.objects.bulk_create(to_create)
    Checkpoint.objects.bulk_update(
        to_update,
        ["definition", "label", "opens_at", "due_at", "overdue_at", "modalities", "required",
         "overdue_severity", "overdue_since"],
    )  # fmt: skip
    resolve_checkpoint_alerts(moved_out_of_overdue, now, "Re-planned: no longer overdue.")


def _new_checkpoint(surgery: Surgery, definition: CheckpointDefinition, span: Window):
    checkpoint = Checkpoint(
        clinic_id=surgery.clinic_id, patient_id=surgery.patient_id, surgery=surgery
    )
    _apply(checkpoint, definition, span)
    return checkpoint


def _moved(checkpoint: Checkpoint, definition: CheckpointDefinition, span: Window) -> bool:
    return checkpoint.definition_id != definition.pk or (
        checkpoint.opens_at,
        checkpoint.due_at,
        checkpoint.overdue_at,
    ) != (span.opens_at, span.due_at, span.overdue_at)


def _apply(checkpoint: Checkpoint, definition: CheckpointDefinition, span: Window) -> None:
    checkpoint.definition = definition
    checkpoint.code = definition.code
    checkpoint.label = definition.label
    checkpoint.kind = definition.kind
    checkpoint.opens_at, checkpoint.due_at, checkpoint.overdue_at = (
        span.opens_at,
        span.due_at,
        span.overdue_at,
    )
    checkpoint.modalities = list(definition.modalities)
    checkpoint.required = definition.required
    checkpoint.overdue_severity = definition.overdue_severity


# --- Work-ups: a clinical event calls for imaging within hours or days (§5) ------------


def workup_window(definition: CheckpointDefinition, occurred_at: datetime) -> Window:
    due = occurred_at + timedelta(hours=definition.due_hours or 0)
    return Window(occurred_at, due, due + timedelta(days=definition.grace_days))


@transaction.atomic
def plan_workups(surgery: Surgery, now: datetime) -> None:
    """One work-up per clinical event of the surgery; an open one follows its event's time."""
    events = list(ClinicalEvent.objects.filter(surgery=surgery))
    existing = {
        c.event_id: c
        for c in Checkpoint.objects.filter(kind=CheckpointKind.WORKUP, event__in=events)
    }
    # An event moved to this surgery or given another code asks another question:
    # its old work-up goes (with its alerts) and a new one is planned.
    replaced = [
        c for e in events
        if (c := existing.get(e.pk)) and (c.surgery_id != surgery.pk or c.code != e.code)
    ]  # fmt: skip
    if replaced:
        resolve_checkpoint_alerts(replaced, now, "Re-planned: the event changed.")
        Checkpoint.objects.filter(pk__in=[c.pk for c in replaced]).delete()
        for checkpoint in replaced:
            del existing[checkpoint.event_id]
    protocol = None
    to_create, to_update, moved_out_of_overdue = [], [], []
    for event in events:
        checkpoint = existing.get(event.pk)
        if checkpoint is None:
            protocol = protocol or Protocol.objects.current(
                ProtocolFamily.WORKUPS, surgery.clinic_id
            )
            definition = protocol and protocol.definitions.filter(code=event.code).first()
            if definition is None:
                continue  # this clinic's work-ups leave this symptom out
            checkpoint = Checkpoint(
                clinic_id=surgery.clinic_id, patient_id=surgery.patient_id, surgery=surgery,
                event=event,
            )  # fmt: skip
            _apply(checkpoint, definition, workup_window(definition, event.occurred_at))
            checkpoint.recommendation = definition.recommendation
            to_create.append(checkpoint)
        elif _open(checkpoint):
            span = workup_window(checkpoint.definition, event.occurred_at)
            if (checkpoint.opens_at, checkpoint.due_at) != (span.opens_at, span.due_at):
                _apply(checkpoint, checkpoint.definition, span)
                if checkpoint.overdue_since and checkpoint.overdue_at > now:
                    checkpoint.overdue_since = None
                    moved_out_of_overdue.append(checkpoint)
                to_update.append(checkpoint)
    Checkpoint.objects.bulk_create(to_create)
    Checkpoint.objects.bulk_update(to_update, ["opens_at", "due_at", "overdue_at", "overdue_since"])
    resolve_checkpoint_alerts(moved_out_of_overdue, now, "Re-planned: no longer overdue.")
