"""The services this CDS Hooks server offers (its discovery document), and what each
answers to a hook request."""

from dataclasses import dataclass

from django.utils import timezone

from patients.models import Clinic, Patient

from . import cards, patients_found

PATIENT_PREFETCH = {"patient": "Patient/{{context.patientId}}"}


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str

    def discovery(self) -> dict:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": PATIENT_PREFETCH,
        }


PATIENT_VIEW = Service(
    "spine-followup-patient-view",
    "patient-view",
    "Spine surgery follow-up",
    "The patient's overdue imaging checkpoints and open high or urgent follow-up alerts.",
)
ORDER_SELECT = Service(
    "spine-followup-imaging-order",
    "order-select",
    "Spine imaging order advice",
    "On an MR order after spine surgery: gadolinium past the 6-month cutoff, or an MR for a "
    "fusion or hardware question (CT and/or radiographs show hardware).",
)
SERVICES = {service.id: service for service in (PATIENT_VIEW, ORDER_SELECT)}


def selected_orders(context: dict) -> list[dict]:
    """The draft ServiceRequests the clinician selected (all drafts if none is named)."""
    bundle = context.get("draftOrders")
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    orders = [
        e["resource"]
        for e in entries or []
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") == "ServiceRequest"
    ]
    selections = context.get("selections")
    if isinstance(selections, list) and selections:
        named = {s for s in selections if isinstance(s, str)}
        orders = [o for o in orders if f"ServiceRequest/{o.get('id')}" in named]
    return orders


def answer(service: Service, clinic: Clinic, body: dict) -> tuple[list[dict], Patient | None]:
    """The cards, and the patient they were about (for the read audit)."""
    context = body.get("context") if isinstance(body.get("context"), dict) else {}
    prefetch = body.get("prefetch") if isinstance(body.get("prefetch"), dict) else {}
    patient = patients_found.find(clinic, context, prefetch, body.get("fhirServer"))
    now = timezone.now()
    if service is PATIENT_VIEW:
        return ([] if patient is None else cards.patient_view(patient, now)), patient
    return cards.order_select(selected_orders(context), patient, now), patient
