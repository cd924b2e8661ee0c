"""FHIR Subscriptions (R4 Subscriptions Backport IG, topic-based, rest-hook): the topics
this server offers (as R4 `Basic` resources and in the CapabilityStatement), a posted
`Subscription` read into a `FhirSubscription` row, and that row as a `Subscription`.

Delivery (handshake, heartbeats, event notifications) is followup/delivery/subscriptions.py;
the notification Bundles are written by `notifications.py`. See docs/fhir.md.
"""

import re
from dataclasses import dataclass

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as ModelError

from followup import outbound

from ..models import FhirSubscription, FhirSubscriptionStatus, FhirTopic, PayloadContent
from . import codes
from .bundles import FHIR_JSON, Issue
from .datatypes import compact, extension, instant
from .entries import Refused

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"
PROFILE_SUBSCRIPTION = f"{BACKPORT}/StructureDefinition/backport-subscription"
PROFILE_STATUS = f"{BACKPORT}/StructureDefinition/backport-subscription-status-r4"
OPERATION_STATUS = f"{BACKPORT}/OperationDefinition/backport-subscription-status"
PROFILE_NOTIFICATION = f"{BACKPORT}/StructureDefinition/backport-subscription-notification-r4"
EXT_FILTER = f"{BACKPORT}/StructureDefinition/backport-filter-criteria"
EXT_HEARTBEAT = f"{BACKPORT}/StructureDefinition/backport-heartbeat-period"
EXT_TIMEOUT = f"{BACKPORT}/StructureDefinition/backport-timeout"
EXT_MAX_COUNT = f"{BACKPORT}/StructureDefinition/backport-max-count"
EXT_CONTENT = f"{BACKPORT}/StructureDefinition/backport-payload-content"
EXT_TOPIC_CANONICAL = (
    f"{BACKPORT}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical"
)
# R5's SubscriptionTopic in R4, as a Basic resource with cross-version extensions.
XVER_TOPIC = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic"
FHIR_TYPES = "http://hl7.org/fhir/fhir-types"
# The HMAC secret of `X-Followup-Signature`, in the answer to the creation only.
EXT_SIGNING_SECRET = codes.extension_url("signing-secret")

MAX_HEARTBEAT = 24 * 60 * 60  # seconds
MIN_HEARTBEAT = 60  # beat runs the delivery once a minute
MAX_HEADERS = 10
# Headers the service writes itself, or that HTTP reserves: never a client's.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "user-agent", "connection", "transfer-encoding",
     "te", "trailer", "upgrade", "expect", "keep-alive", "proxy-authorization"}
)  # fmt: skip
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PATIENT_FILTER = re.compile(r"^patient=(?:Patient/)?(\d+)$")


@dataclass(frozen=True)
class Topic:
    key: str
    title: str
    focus: str  # the type of the notifications' focus
    description: str

    @property
    def basic_id(self) -> str:
        return f"topic-{self.key}"

    @property
    def url(self) -> str:
        # Read at each use: the canonical base follows codes.BASE.
        return f"{codes.BASE}/SubscriptionTopic/{self.key}"


TOPICS = {
    FhirTopic.ALERT: Topic(
        FhirTopic.ALERT,
        "Alert raised or changed",
        "Flag",
        "An alert (Flag) of the clinic was raised, acknowledged, snoozed, resolved or "
        "changed severity. Focus: the Flag, as it was after the change.",
    ),
    FhirTopic.CHECKPOINT_OVERDUE: Topic(
        FhirTopic.CHECKPOINT_OVERDUE,
        "Checkpoint overdue",
        "CarePlan",
        "An imaging checkpoint or work-up of a surgery's follow-up became overdue (its "
        "grace passed with no exam). Focus: the surgery's CarePlan (one activity per "
        "checkpoint); additional context: the overdue alert's Flag.",
    ),
}


def topic_of(url: str) -> Topic | None:
    return next((t for t in TOPICS.values() if t.url == url), None)


def topic_resource(topic: Topic) -> dict:
    """A SubscriptionTopic as the R4 Basic resource of the backport IG."""
    return {
        "resourceType": "Basic",
        "id": topic.basic_id,
        "extension": [
            extension(f"{XVER_TOPIC}.url", valueUri=topic.url),
            extension(f"{XVER_TOPIC}.title", valueString=topic.title),
            extension(f"{XVER_TOPIC}.status", valueCode="active"),
            extension(f"{XVER_TOPIC}.description", valueMarkdown=topic.description),
            {
                "url": f"{XVER_TOPIC}.resourceTrigger",
                "extension": [
                    extension("description", valueMarkdown=topic.description),
                    extension("resource", valueUri=topic.focus),
                ],
            },
            {
                "url": f"{XVER_TOPIC}.canFilterBy",
                "extension": [
                    extension("resource", valueUri=topic.focus),
                    extension("filterParameter", valueString="patient"),
                ],
            },
        ],
        "code": {"coding": [{"system": FHIR_TYPES, "code": "SubscriptionTopic"}]},
    }


def capability_resources() -> list[dict]:
    """The CapabilityStatement's entries for Subscription and for the topics (Basic)."""
    return [
        {
            "extension": [
                extension(EXT_TOPIC_CANONICAL, valueCanonical=t.url) for t in TOPICS.values()
            ],
            "type": "Subscription",
            "supportedProfile": [PROFILE_SUBSCRIPTION],
            "documentation": "Topic-based rest-hook subscriptions (R4 backport): a client "
            "sees only its own. Deleting one turns it off.",
            "interaction": [{"code": code} for code in ("create", "read", "search-type", "delete")],
            "operation": [{"name": "status", "definition": OPERATION_STATUS}],
        },
        {
            "type": "Basic",
            "documentation": "The SubscriptionTopics this server offers, read-only.",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
        },
    ]


# --- A posted Subscription, read -------------------------------------------------------


@dataclass
class Requested:
    """What a valid posted Subscription asks for: the fields of a new FhirSubscription."""

    topic: str
    endpoint: str
    content: str
    headers: list[str]
    heartbeat_period: int | None
    patient_id: int | None
    reason: str


def read(body: object, readable_patient) -> Requested:
    """Check a posted Subscription; `Refused` with the element of each problem.
    `readable_patient(id)` says whether the caller's clinic has that patient."""
    if not isinstance(body, dict) or body.get("resourceType") != "Subscription":
        raise Refused([Issue("structure", "Expected a Subscription resource.", ["Subscription"])])
    try:
        get_fhir_model_class("Subscription").model_validate(body)
    except ModelError as error:
        raise Refused(
            [
                Issue("structure", problem["msg"], [_path(problem["loc"])])
                for problem in error.errors()
            ]
        ) from None
    issues: list[Issue] = []
    topic = _topic(body, issues)
    channel = body.get("channel") or {}
    requested = Requested(
        topic=topic.key if topic else "",
        endpoint=_endpoint(channel, issues),
        content=_content(channel, issues),
        headers=_headers(channel, issues),
        heartbeat_period=_heartbeat(channel, issues),
        patient_id=_filter(body, topic, readable_patient, issues),
        reason=str(body.get("reason") or "")[:500],
    )
    if body.get("status") not in (FhirSubscriptionStatus.REQUESTED, FhirSubscriptionStatus.ACTIVE):
        issues.append(_invalid("status", "a new Subscription is `requested` (or `active`)."))
    if "end" in body:
        issues.append(_invalid("end", "not supported; DELETE it instead.", "not-supported"))
    if issues:
        raise Refused(issues)
    return requested


def _path(loc) -> str:
    return ".".join(["Subscription", *(str(part) for part in loc if part != "__root__")])


def _invalid(element: str, message: str, code: str = "invalid") -> Issue:
    return Issue(code, f"Subscription.{element}: {message}", [f"Subscription.{element}"])


def _topic(body: dict, issues: list[Issue]) -> Topic | None:
    topic = topic_of(body.get("criteria") or "")
    if topic is None:
        known = ", ".join(t.url for t in TOPICS.values())
        issues.append(_invalid("criteria", f"not a SubscriptionTopic of this server ({known})."))
    return topic


def _filter(body: dict, topic: Topic | None, readable_patient, issues) -> int | None:
    filters = [
        (index, item)
        for index, item in enumerate((body.get("_criteria") or {}).get("extension") or [])
        if item.get("url") == EXT_FILTER
    ]
    if not filters:
        return None
    if len(filters) > 1:
        issues.append(_invalid("criteria.extension", "one filter at most (patient=)."))
        return None
    index, item = filters[0]
    element = f"criteria.extension[{index}].valueString"
    resource_type, _, query = str(item.get("valueString") or "").partition("?")
    match = _PATIENT_FILTER.match(query)
    expected = topic.focus if topic else "Flag"
    if resource_type != expected or match is None:
        issues.append(_invalid(element, f"the filter this topic takes is {expected}?patient=<id>."))
        return None
    patient = int(match[1])
    if not readable_patient(patient):
        issues.append(_invalid(element, f"Patient/{patient} is not a patient of your clinic."))
        return None
    return patient


def _endpoint(channel: dict, issues: list[Issue]) -> str:
    if channel.get("type") != "rest-hook":
        issues.append(
            _invalid("channel.type", "only `rest-hook` is supported.", code="not-supported")
        )
    endpoint = channel.get("endpoint") or ""
    if not endpoint:
        issues.append(_invalid("channel.endpoint", "required for a rest-hook.", code="required"))
        return ""
    if len(endpoint) > 500:
        issues.append(_invalid("channel.endpoint", "at most 500 characters."))
        return ""
    try:
        outbound.check_url(endpoint)
    except outbound.Refused as refused:
        issues.append(_invalid("channel.endpoint", str(refused)))
    return endpoint


def _content(channel: dict, issues: list[Issue]) -> str:
    if (channel.get("payload") or "").split(";")[0].strip() != FHIR_JSON:
        issues.append(
            _invalid("channel.payload", f"notifications are sent as {FHIR_JSON}; say so.")
        )
    values = [
        e.get("valueCode")
        for e in (channel.get("_payload") or {}).get("extension") or []
        if e.get("url") == EXT_CONTENT
    ]
    if not values:
        return PayloadContent.ID_ONLY
    if len(values) > 1 or values[0] not in PayloadContent.values:
        issues.append(
            _invalid(
                "channel.payload.extension",
                f"backport-payload-content is one of {', '.join(PayloadContent.values)}.",
                code="not-supported",
            )
        )
        return ""
    return values[0]


def _headers(channel: dict, issues: list[Issue]) -> list[str]:
    headers = [str(h) for h in channel.get("header") or []]
    if len(headers) > MAX_HEADERS:
        issues.append(_invalid("channel.header", f"at most {MAX_HEADERS} headers."))
        return []
    for index, header in enumerate(headers):
        name, colon, value = header.partition(":")
        name = name.strip()
        lowered = name.lower()
        if not colon or not _HEADER_NAME.match(name) or any(c in value for c in "\r\n\x00"):
            problem = "give each header as `Name: value`, on one line."
        elif lowered in RESERVED_HEADERS or lowered.startswith("x-followup-"):
            problem = f"{name} is written by this server, not by a subscription."
        elif len(header) > 1000:
            problem = "at most 1000 characters."
        else:
            continue
        issues.append(_invalid(f"channel.header[{index}]", problem))
    return headers


def _heartbeat(channel: dict, issues: list[Issue]) -> int | None:
    for index, item in enumerate(channel.get("extension") or []):
        if item.get("url") != EXT_HEARTBEAT:
            continue
        period = item.get("valueUnsignedInt")
        if not isinstance(period, int) or not MIN_HEARTBEAT <= period <= MAX_HEARTBEAT:
            issues.append(
                _invalid(
                    f"channel.extension[{index}].valueUnsignedInt",
                    f"the heartbeat period is {MIN_HEARTBEAT} to {MAX_HEARTBEAT} seconds.",
                )
            )
            return None
        return period
    return None


# --- A FhirSubscription as a Subscription ----------------------------------------------


def subscription(row: FhirSubscription, with_secret: bool = False) -> dict:
    topic = TOPICS[row.topic]
    criteria_ext = None
    if row.patient_id is not None:
        criteria = f"{topic.focus}?patient=Patient/{row.patient_id}"
        criteria_ext = {"extension": [extension(EXT_FILTER, valueString=criteria)]}
    channel = compact(
        {
            "extension": [extension(EXT_HEARTBEAT, valueUnsignedInt=row.heartbeat_period)]
            if row.heartbeat_period
            else [],
            "type": "rest-hook",
            "endpoint": row.endpoint,
            "payload": FHIR_JSON,
            "_payload": {"extension": [extension(EXT_CONTENT, valueCode=row.content)]},
            "header": row.headers,
        }
    )
    secret = [extension(EXT_SIGNING_SECRET, valueString=row.secret)] if with_secret else []
    return compact(
        {
            "resourceType": "Subscription",
            "id": str(row.pk),
            "meta": {"lastUpdated": instant(row.updated_at), "profile": [PROFILE_SUBSCRIPTION]},
            "extension": secret,
            "status": row.status,
            "reason": row.reason or topic.title,
            "criteria": topic.url,
            "_criteria": criteria_ext,
            "error": row.last_error,
            "channel": channel,
        }
    )
