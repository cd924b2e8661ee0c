"""The cards: what the follow-up knows that the clinician should see now. A card names no
patient (no name, MRN, birth date, not even our id outside the link): the EHR shows it on
the patient's own screen. Links go to the admin pages, under SITE_URL."""

import re
import uuid
from datetime import datetime

from django.conf import settings
from django.urls import reverse

from followup.models import Alert, AlertStatus, Checkpoint, CheckpointStatus, Severity
from followup.models.alerts import SEVERITY_ORDER
from followup.reads.contrast_decisions import ordered_contrast_decision
from followup.rules.across_exams import MR_SHOWS_NO_HARDWARE, MR_SHOWS_NO_HARDWARE_SOURCE
from followup.rules.default_protocols import GADOLINIUM_CUTOFF
from patients.models import Patient

SOURCE_LABEL = "Spine surgery follow-up"
INDICATOR = {
    Severity.INFO: "info",
    Severity.WARNING: "warning",
    Severity.HIGH: "warning",
    Severity.URGENT: "critical",
}


def _card(summary: str, indicator: str, detail: str, source: str, link: str | None) -> dict:
    card = {
        "uuid": str(uuid.uuid4()),
        "summary": summary[:140],  # CDS Hooks: "<140-character summary"
        "indicator": indicator,
        "detail": detail,
        "source": {"label": source},
    }
    if link is not None:
        card["links"] = [{"label": "Open in the follow-up", "url": link, "type": "absolute"}]
    return card


def _admin_link(model: str, pk: int) -> str:
    return f"{settings.SITE_URL}{reverse(f'admin:followup_{model}_change', args=[pk])}"


def patient_view(patient: Patient, now: datetime) -> list[dict]:
    """The overdue checkpoints, then the open high and urgent alerts (2 queries)."""
    overdue = list(
        Checkpoint.objects.filter(patient=patient)
        .with_status(CheckpointStatus.OVERDUE, now)
        .order_by("overdue_at", "id")
    )
    cards = [
        _card(
            f"Overdue: {checkpoint.label}",
            INDICATOR[checkpoint.overdue_severity],
            f"Overdue for {(now - checkpoint.overdue_at).days} day(s)."
            + (f" {checkpoint.recommendation}" if checkpoint.recommendation else ""),
            SOURCE_LABEL,
            _admin_link("checkpoint", checkpoint.pk),
        )
        for checkpoint in overdue
    ]
    shown = {checkpoint.pk for checkpoint in overdue}
    alerts = (
        Alert.objects.filter(patient=patient, severity__in=[Severity.HIGH, Severity.URGENT])
        .with_status(AlertStatus.OPEN, now)
        .order_by(SEVERITY_ORDER.desc(), "created_at", "id")
    )
    cards += [
        _card(
            f"{alert.get_severity_display()} alert: {alert.get_code_display()}",
            INDICATOR[alert.severity],
            alert.message,
            SOURCE_LABEL,
            _admin_link("alert", alert.pk),
        )
        for alert in alerts
        if alert.checkpoint_id not in shown  # its overdue checkpoint is on a card already
    ]
    return cards


# --- order-select: what an order says ---------------------------------------------------

DICOM = "http://dicom.nema.org/resources/ontology/DCM"
_MR = re.compile(r"\b(mri?|magnetic resonance)\b", re.IGNORECASE)
_GADOLINIUM = re.compile(
    r"gadolinium|\bgad\b|\bgd\b|\bw(?:ith|/)?\s+(?:iv\s+)?contrast", re.IGNORECASE
)
_FUSION_OR_HARDWARE = re.compile(
    r"fusion|arthrodesis|pseudarthrosis|hardware|implant|instrumentation|screw|\brods?\b|"
    r"\bcage\b|spacer|loosening",
    re.IGNORECASE,
)
CONTRAST_EXTENSION_SUFFIX = "/StructureDefinition/contrast"


def _texts(concept) -> list[str]:
    if not isinstance(concept, dict):
        return []
    texts = [concept.get("text")]
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict):
            texts += [coding.get("display"), coding.get("code")]
    return [t for t in texts if isinstance(t, str)]


def _concepts(order: dict, key: str) -> list[dict]:
    value = order.get(key)
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


def is_mr(order: dict) -> bool:
    code = order.get("code") if isinstance(order.get("code"), dict) else {}
    codings = [c for c in code.get("coding") or [] if isinstance(c, dict)]
    if any(c.get("system") == DICOM and c.get("code") == "MR" for c in codings):
        return True
    return any(_MR.search(text) for text in _texts(code))


def with_gadolinium(order: dict) -> bool:
    for extension in order.get("extension") or []:
        if (
            isinstance(extension, dict)
            and str(extension.get("url", "")).endswith(CONTRAST_EXTENSION_SUFFIX)
            and extension.get("valueCode") == "gadolinium"
        ):
            return True
    return any(_GADOLINIUM.search(text) for text in _texts(order.get("code")))


def asks_about_fusion_or_hardware(order: dict) -> bool:
    texts = [t for concept in _concepts(order, "reasonCode") for t in _texts(concept)]
    texts += [n.get("text") for n in _concepts(order, "note") if isinstance(n.get("text"), str)]
    return any(_FUSION_OR_HARDWARE.search(text) for text in texts)


def order_select(orders: list[dict], patient: Patient | None, now: datetime) -> list[dict]:
    """The advice for each selected MR order: at most one card per kind of advice."""
    mr_orders = [order for order in orders if is_mr(order)]
    cards = []
    if patient is not None and any(with_gadolinium(order) for order in mr_orders):
        decision = ordered_contrast_decision(patient.pk, now)
        if decision is not None and not decision["before_gadolinium_cutoff"]:
            cards.append(
                _card(
                    "Gadolinium MR past the 6-month cutoff: generally not useful",
                    "info",
                    f"The last spine surgery's gadolinium cutoff has passed: "
                    f"{decision['explanation']}",
                    f"{SOURCE_LABEL}: {GADOLINIUM_CUTOFF['source']}",
                    None,
                )
            )
    if any(asks_about_fusion_or_hardware(order) for order in mr_orders):
        cards.append(
            _card(
                "MR ordered for a fusion or hardware question",
                "info",
                MR_SHOWS_NO_HARDWARE,
                f"{SOURCE_LABEL}: {MR_SHOWS_NO_HARDWARE_SOURCE}",
                None,
            )
        )
    return cards
