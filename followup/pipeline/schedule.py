"""Planning a surgery's checkpoints from its protocol, in the clinic's time zone.

Day 0 is the surgery's local date. A window "opens on day N" at the start of that
local day and "is due on day M" at the end of that local day, so DST changes and
time zones east or west of UTC fall where a person expects them.
"""

from collections import defaultdict
from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from followup.models import (
    Checkpoint,
    CheckpointDefinition,
    CheckpointKind,
    Protocol,
    SurgeryPlan,
    Thresholds,
    plan_of,
)
from followup.models.protocols import ProtocolFamily
from patients.models import ClinicalEvent, Surgery

from .alerts_lifecycle import resolve_checkpoint_alerts


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


def _set_protocols(surgeries: Sequence[Surgery], onto_current: Container[int]) -> None:
    """A surgery keeps the versions it was planned with; a new one (or a surgery moved onto
    the current versions: its id in `onto_current`) gets the clinic's current version of
    its family's protocol, and of the thresholds (CLINICAL_RULES §4, "Numbers are pinned").
    The plans that change are written in one upsert (a plan row for a surgery without one)."""
    current: dict[tuple[str, int], Protocol | None] = {}
    in_force: dict[int, Thresholds | None] = {}
    changed = []
    for surgery in surgeries:
        plan = plan_of(surgery)
        before = (plan.protocol_id, plan.thresholds_id)
        if plan.thresholds_id is None or surgery.pk in onto_current:
            if surgery.clinic_id not in in_force:
                found = Thresholds.objects.current(surgery.clinic_id)
                in_force[surgery.clinic_id] = found if found.pk else None  # an emptied table
            plan.thresholds = in_force[surgery.clinic_id]
        kept = plan.protocol
        if kept is None or kept.family != surgery.family or surgery.pk in onto_current:
            key = (surgery.family, surgery.clinic_id)
            if key not in current:
                current[key] = Protocol.objects.current(*key)
            plan.protocol = current[key]
        if (plan.protocol_id, plan.thresholds_id) != before:
            changed.append(plan)
    SurgeryPlan.objects.bulk_create(
        changed,
        update_conflicts=True,
        unique_fields=["surgery"],
        update_fields=["protocol", "thresholds"],
    )


@transaction.atomic
def plan(surgery: Surgery, now: datetime, *, onto_current: bool = False) -> None:
    """Create, move or remove the surgery's checkpoints."""
    plan_many([surgery], now, onto_current={surgery.pk} if onto_current else ())


@transaction.atomic
def plan_many(
    surgeries: Sequence[Surgery], now: datetime, *, onto_current: Container[int] = ()
) -> None:
    """`plan` for many surgeries in a fixed number of queries.

    A surgery's checkpoints are a function of its date and pinned protocol: a checkpoint
    the protocol no longer has goes (satisfied or waived too: the exam and the waiver's
    trail stay), and every window follows the surgery's date. The overdue alerts this
    leaves without a cause are resolved by `alerts_lifecycle.reconcile_deadlines`.
    """
    _set_protocols(surgeries, onto_current)
    definitions = defaultdict(list)
    for definition in CheckpointDefinition.objects.filter(
        protocol__in={plan_of(s).protocol_id for s in surgeries} - {None}
    ):
        definitions[definition.protocol_id].append(definition)
    existing = defaultdict(dict)
    for checkpoint in Checkpoint.objects.filter(surgery__in=surgeries).exclude(
        kind=CheckpointKind.WORKUP
    ):
        existing[checkpoint.surgery_id][checkpoint.code] = checkpoint

    gone, to_create, to_update = [], [], []
    for surgery in surgeries:
        wanted = {d.code: d for d in definitions[plan_of(surgery).protocol_id]}
        mine = existing[surgery.pk]
        gone += [c.pk for code, c in mine.items() if code not in wanted]
        zone = surgery.clinic.zone
        for code, definition in wanted.items():
            span = window(definition, surgery.performed_at, zone)
            checkpoint = mine.get(code)
            if checkpoint is None:
                to_create.append(_new_checkpoint(surgery, definition, span))
            elif _moved(checkpoint, definition, span):
                _apply(checkpoint, definition, span)
                _not_overdue_yet(checkpoint, now)
                to_update.append(checkpoint)
    Checkpoint.objects.filter(pk__in=gone).delete()
    Checkpoint.objects.bulk_create(to_create)
    Checkpoint.objects.bulk_update(
        to_update,
        ["definition", "label", "opens_at", "due_at", "overdue_at", "modalities", "instruments",
         "required", "overdue_severity", "overdue_since"],
    )  # fmt: skip


def _not_overdue_yet(checkpoint: Checkpoint, now: datetime) -> None:
    """A deadline moved into the future: the sweep must look at it again when it passes."""
    if checkpoint.overdue_since and checkpoint.overdue_at > now:
        checkpoint.overdue_since = None


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
    checkpoint.instruments = list(definition.instruments)
    checkpoint.required = definition.required
    checkpoint.overdue_severity = definition.overdue_severity


# --- Work-ups: a clinical event calls for imaging within hours or days (§5) ------------


def workup_window(definition: CheckpointDefinition, occurred_at: datetime) -> Window:
    due = occurred_at + timedelta(hours=definition.due_hours or 0)
    return Window(occurred_at, due, due + timedelta(days=definition.grace_days))


@transaction.atomic
def plan_workups(surgery: Surgery, now: datetime) -> None:
    """One work-up per clinical event of the surgery, its window following the event's time."""
    plan_workups_many([surgery], now)


@transaction.atomic
def plan_workups_many(surgeries: Sequence[Surgery], now: datetime) -> None:
    """`plan_workups` for many surgeries in a fixed number of queries."""
    events = list(ClinicalEvent.objects.filter(surgery__in=surgeries))
    existing = {
        c.event_id: c
        for c in Checkpoint.objects.filter(kind=CheckpointKind.WORKUP, event__in=events)
        .select_related("definition")
    }  # fmt: skip
    # An event moved to its surgery or given another code asks another question:
    # its old work-up goes (with its alerts) and a new one is planned.
    replaced = [
        c for e in events
        if (c := existing.get(e.pk)) and (c.surgery_id != e.surgery_id or c.code != e.code)
    ]  # fmt: skip
    if replaced:
        resolve_checkpoint_alerts(replaced, now, "Re-planned: the event changed.")
        Checkpoint.objects.filter(pk__in=[c.pk for c in replaced]).delete()
        for checkpoint in replaced:
            del existing[checkpoint.event_id]
    by_pk = {surgery.pk: surgery for surgery in surgeries}
    definitions = _WorkupDefinitions()
    to_create, to_update = [], []
    for event in events:
        surgery = by_pk[event.surgery_id]
        checkpoint = existing.get(event.pk)
        if checkpoint is None:
            definition = definitions.get(surgery.clinic_id, event.code)
            if definition is None:
                continue  # this clinic's work-ups leave this symptom out
            checkpoint = Checkpoint(
                clinic_id=surgery.clinic_id, patient_id=surgery.patient_id, surgery=surgery,
                event=event,
            )  # fmt: skip
            _apply(checkpoint, definition, workup_window(definition, event.occurred_at))
            checkpoint.recommendation = definition.recommendation
            to_create.append(checkpoint)
        else:
            span = workup_window(checkpoint.definition, event.occurred_at)
            if (checkpoint.opens_at, checkpoint.due_at) != (span.opens_at, span.due_at):
                _apply(checkpoint, checkpoint.definition, span)
                _not_overdue_yet(checkpoint, now)
                to_update.append(checkpoint)
    Checkpoint.objects.bulk_create(to_create)
    Checkpoint.objects.bulk_update(to_update, ["opens_at", "due_at", "overdue_at", "overdue_since"])


class _WorkupDefinitions:
    """The work-up definition of a symptom in a clinic's current protocol, read once."""

    def __init__(self) -> None:
        self._by_clinic: dict[int, dict[str, CheckpointDefinition]] = {}

    def get(self, clinic_id: int, code: str) -> CheckpointDefinition | None:
        if clinic_id not in self._by_clinic:
            protocol = Protocol.objects.current(ProtocolFamily.WORKUPS, clinic_id)
            self._by_clinic[clinic_id] = (
                {d.code: d for d in protocol.definitions.all()} if protocol else {}
            )
        return self._by_clinic[clinic_id].get(code)
