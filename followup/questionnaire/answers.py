"""Answering a questionnaire: the screens of an invitation, progress saved screen by
screen, and the completion that writes the scores as an `Assessment` (so the refresh its
save nudges answers the time point and runs the pain-recurrence rule unchanged).

Each write locks the invitation row: two tabs, or a double click, cannot both complete
it, and an answer after completion changes nothing.
"""

from dataclasses import dataclass
from datetime import datetime

import pghistory
from django.db import transaction

from followup.models import Instrument, PromInvitation
from followup.rules.instruments import Item
from patients.locks import lock_patients
from patients.models import Assessment


@dataclass(frozen=True)
class Screen:
    index: int
    instrument: Instrument
    item: Item


def pin_instruments(invitation: PromInvitation, now: datetime) -> None:
    """At the first opening, the versions asked are fixed: those in force for the clinic
    that have texts in the patient's language (an ODI whose licensed texts were never
    loaded is left out)."""
    if invitation.instruments:
        return
    codes = invitation.checkpoint.instruments
    found = Instrument.objects.in_force_for(invitation.clinic_id, codes)
    asked = [found[code].pk for code in codes
             if code in found and found[code].askable_in(invitation.language)]  # fmt: skip
    PromInvitation.objects.filter(pk=invitation.pk, opened_at__isnull=True).update(
        instruments=asked, opened_at=now
    )
    invitation.refresh_from_db()


def screens(invitation: PromInvitation) -> list[Screen]:
    by_pk = Instrument.objects.in_bulk(invitation.instruments)
    flat = []
    for pk in invitation.instruments:
        instrument = by_pk[pk]
        for item in instrument.parsed():
            flat.append(Screen(len(flat), instrument, item))
    return flat


class Refused(Exception):
    """The answer cannot be taken (not an option, the questionnaire is over)."""


def answer(invitation_id: int, position: int, value: int | None, now: datetime) -> PromInvitation:
    """Record the answer of the screen at `position` (None: go back one screen) and move
    on; complete the questionnaire after its last screen. Returns the invitation."""
    patient_id = (
        PromInvitation.objects.filter(pk=invitation_id).values_list("patient_id", flat=True).get()
    )
    # The lock order (docs/architecture.md): the patient first, then the rest.
    with transaction.atomic(), pghistory.context(questionnaire=invitation_id):
        lock_patients([patient_id])
        invitation = PromInvitation.objects.select_for_update().get(pk=invitation_id)
        if not invitation.usable_at(now):
            raise Refused("over")
        flat = screens(invitation)
        if position != invitation.position or position >= len(flat):
            return invitation  # a resubmitted screen (back button, double click): no change
        if value is None:
            invitation.position = max(0, position - 1)
            invitation.save(update_fields=["position"])
            return invitation
        screen = flat[position]
        if value not in screen.item.values():
            raise Refused("not an option")
        invitation.answers.setdefault(screen.instrument.code, {})[screen.item.code] = value
        invitation.position = position + 1
        invitation.save(update_fields=["answers", "position"])
        if invitation.position == len(flat):
            _complete(invitation, flat, now)
        return invitation


def _complete(invitation: PromInvitation, flat: list[Screen], now: datetime) -> None:
    scores = {}
    for instrument in {screen.instrument.pk: screen.instrument for screen in flat}.values():
        if instrument.assessment_field:
            scores[instrument.assessment_field] = instrument.score(
                invitation.answers.get(instrument.code, {})
            )
    if any(value is not None for value in scores.values()):
        invitation.assessment = Assessment.objects.create(
            patient_id=invitation.patient_id,
            surgery_id=invitation.checkpoint.surgery_id,
            assessed_at=now,
            **scores,
        )
    invitation.completed_at = now
    invitation.save(update_fields=["completed_at", "assessment"])
