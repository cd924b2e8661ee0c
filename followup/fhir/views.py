"""FHIR endpoints: read and search per type, the CapabilityStatement, the import.

Scoping is the REST API's: a resource of another clinic does not exist (404).
Each search costs a fixed number of queries, whatever the number of rows.
"""

from functools import partial
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Max
from django.db.models.functions import Greatest
from django.utils import timezone
from rest_framework.exceptions import NotFound, ParseError, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from imaging.models import Finding, ImagingExam
from patients.base.api.read_audit import AuditedReads
from patients.base.api.scoping import readable_clinic_ids
from patients.base.api.viewsets import ClinicScopedViewSet
from patients.models import ApiClient, Assessment, Clinic, Patient, Surgery

from ..api.reports import audit_report_read, chosen_clinic
from ..delivery.subscriptions import Notice
from ..models import Alert, AlertStatus, FhirSubscription, FhirSubscriptionStatus
from ..pipeline.refresh import nudge
from ..reports import outcomes
from . import followup_resources, measures, notifications, observations, resources, subscriptions
from .bundles import BASE_PATH, Issue, base_url, count_only, operation_outcome, searchset
from .capability import capability_statement
from .entries import Refused
from .importer import import_bundle
from .observation_search import PARAMS as OBSERVATION_PARAMS
from .observation_search import ObservationSearch
from .rendering import FhirMixin
from .search import (
    by_dates,
    check_params,
    keyset_page,
    next_link,
    only_count,
    patient_id,
    tokens,
    with_identifier,
)

UTC = ZoneInfo("UTC")
DATE_PARAMS = {"_lastUpdated", "date", "started"}

SUBSCRIPTIONS_TASK = "followup.tasks.deliver_fhir_subscriptions"


def _not_found(resource_type: str, resource_id: str) -> NotFound:
    return NotFound(f"{resource_type}/{resource_id} is not a resource of your clinic.")


def search_zone(request, params) -> ZoneInfo:
    """The day a date without a time means: the clinic's, for a caller who reads one."""
    if not DATE_PARAMS & set(params):
        return UTC
    readable = readable_clinic_ids(request)
    if len(readable) != 1:
        return UTC
    return Clinic.objects.get(pk=next(iter(readable))).zone


class ResourceViewSet(FhirMixin, ClinicScopedViewSet):
    """`GET Type/<id>` and `GET Type?patient=<id>&...` for one type over one model.

    A page is one query and the queryset's prefetches (`search.keyset_page`)."""

    audit_patient_field = "fhir"  # reads are audited (patients/base/api/read_audit.py)

    resource_type = ""
    search_params = frozenset({"patient"})
    last_updated = "updated_at"  # the field `_lastUpdated` searches
    filter_backends = []
    pagination_class = None

    def to_fhir(self, row) -> dict:
        raise NotImplementedError

    def search(self, queryset, params, zone: ZoneInfo):
        if "patient" in params:
            queryset = queryset.filter(patient_id=patient_id(params["patient"]))
        return queryset

    def included(self, rows, params) -> list[dict]:
        return []

    def list(self, request):
        params = request.query_params
        check_params(params, self.search_params)
        zone = search_zone(request, params)
        queryset = self.search(self.get_queryset(), params, zone)
        queryset = by_dates(queryset, params, "_lastUpdated", self.last_updated, zone)
        if only_count(params):
            return Response(count_only(request, queryset.count()))
        rows, key = keyset_page(queryset, params)
        found = [self.to_fhir(row) for row in rows]
        return Response(
            searchset(request, found, next_link(request, key), self.included(rows, params))
        )

    def retrieve(self, request, pk: str):
        row = self.get_queryset().filter(pk=int(pk)).first() if pk.isdecimal() else None
        if row is None:
            raise _not_found(self.resource_type, pk)
        return Response(self.to_fhir(row))


class PatientViewSet(ResourceViewSet):
    resource_type = "Patient"
    queryset = Patient.objects.select_related("clinic").prefetch_related("external_ids")
    search_params = frozenset({"identifier"})

    def search(self, queryset, params, zone):
        if "identifier" in params:
            queryset = with_identifier(queryset, params["identifier"])
        return queryset

    def to_fhir(self, row):
        return resources.patient(row)


class ProcedureViewSet(ResourceViewSet):
    resource_type = "Procedure"
    queryset = Surgery.objects.all()

    def to_fhir(self, row):
        return resources.procedure(row)


class ImagingStudyViewSet(ResourceViewSet):
    resource_type = "ImagingStudy"
    queryset = ImagingExam.objects.all()
    search_params = frozenset({"patient", "started"})

    def search(self, queryset, params, zone):
        queryset = super().search(queryset, params, zone)
        return by_dates(queryset, params, "started", "performed_at", zone)

    def to_fhir(self, row):
        return resources.imaging_study(row)


INCLUDE_RESULTS = "DiagnosticReport:result"


class DiagnosticReportViewSet(ResourceViewSet):
    resource_type = "DiagnosticReport"
    queryset = ImagingExam.objects.prefetch_related("findings")
    search_params = frozenset({"patient", "date", "_include"})

    def search(self, queryset, params, zone):
        if unknown := set(params.getlist("_include")) - {INCLUDE_RESULTS}:
            raise ParseError(
                f"_include={sorted(unknown)[0]!r}: only _include={INCLUDE_RESULTS} is supported."
            )
        queryset = super().search(queryset, params, zone)
        return by_dates(queryset, params, "date", "performed_at", zone)

    def included(self, rows, params):
        if INCLUDE_RESULTS not in params.getlist("_include"):
            return []
        # The prefetch sets each finding's exam: no query more.
        return [observations.finding(f) for row in rows for f in row.findings.all()]

    def to_fhir(self, row):
        return resources.diagnostic_report(row)


class CarePlanViewSet(ResourceViewSet):
    """Changed when the surgery or one of its checkpoints changed, whichever is last."""

    resource_type = "CarePlan"
    queryset = Surgery.objects.prefetch_related("checkpoints").annotate(
        last_updated=Greatest("updated_at", Max("checkpoints__updated_at"))
    )
    last_updated = "last_updated"

    def to_fhir(self, row):
        return followup_resources.care_plan(row, timezone.now())


FLAG_STATUSES = ("active", "inactive")


class FlagViewSet(ResourceViewSet):
    """A search lists the open alerts (`status=active`, the default) or the others
    (`inactive`); a read answers any alert, inactive once handled."""

    resource_type = "Flag"
    queryset = Alert.objects.all()
    search_params = frozenset({"patient", "status"})

    def search(self, queryset, params, zone):
        queryset = super().search(queryset, params, zone)
        statuses = {"active"}
        if "status" in params:
            statuses = set()
            for system, code in tokens(params, "status"):
                if code not in FLAG_STATUSES or system not in (None, FLAG_STATUS_SYSTEM):
                    raise ParseError(f"status={code!r}: a Flag is active or inactive.")
                statuses.add(code)
        if statuses == set(FLAG_STATUSES):
            return queryset
        open_now = Alert.objects.with_status(AlertStatus.OPEN, timezone.now()).values("pk")
        if statuses == {"active"}:
            return queryset.filter(pk__in=open_now)
        return queryset.exclude(pk__in=open_now)

    def to_fhir(self, row):
        return followup_resources.flag(row, timezone.now())


FLAG_STATUS_SYSTEM = "http://hl7.org/fhir/flag-status"


class ObservationView(FhirMixin, AuditedReads, APIView):
    """Findings and scores of one patient: two tables, paged as one
    (followup/fhir/observation_search.py)."""

    resource_type = "Observation"  # what a SMART token needs a grant for (HasScope)
    audit_patient_field = "fhir"  # reads are audited (patients/base/api/read_audit.py)

    def get(self, request, pk: str | None = None):
        readable = readable_clinic_ids(request)
        if pk is not None:
            return Response(self._read(pk, readable))
        params = request.query_params
        check_params(params, OBSERVATION_PARAMS)
        found = ObservationSearch(params, readable, search_zone(request, params))
        if only_count(params):
            return Response(count_only(request, found.count()))
        page, key = found.page()
        return Response(searchset(request, page, next_link(request, key)))

    def _read(self, pk: str, readable) -> dict:
        match observations.parse_id(pk):
            case ("finding", row_id, _):
                row = (
                    Finding.objects.select_related("exam")
                    .filter(exam__clinic_id__in=readable, pk=row_id)
                    .first()
                )
                if row is not None:
                    return observations.finding(row)
            case ("assessment", row_id, score):
                row = Assessment.objects.filter(clinic_id__in=readable, pk=row_id).first()
                if row is not None and getattr(row, score) is not None:
                    return observations.score(row, score)
        raise _not_found("Observation", pk)


class SubscriptionViewSet(FhirMixin, ClinicScopedViewSet):
    """`Subscription`: create, read, search and delete a client's own subscriptions; another
    client's, of this clinic or another, does not exist (404). Deleting turns it off."""

    queryset = FhirSubscription.objects.all()
    resource_type = "Subscription"  # what a SMART token needs a grant for (HasScope)
    audit_patient_field = None
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        # Only an integration client has subscriptions (`initial` refuses the others).
        return super().get_queryset().filter(client=self.request.auth)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not isinstance(request.auth, ApiClient):
            raise PermissionDenied("A Subscription belongs to an integration client's token.")

    def _row(self, pk: str) -> FhirSubscription:
        row = self.get_queryset().filter(pk=int(pk)).first() if pk.isdecimal() else None
        if row is None:
            raise _not_found("Subscription", pk)
        return row

    def list(self, request):
        params = request.query_params
        check_params(params, set())
        live = self.get_queryset().exclude(status=FhirSubscriptionStatus.OFF)
        rows, key = keyset_page(live, params)
        found = [subscriptions.subscription(row) for row in rows]
        return Response(searchset(request, found, next_link(request, key)))

    def retrieve(self, request, pk: str):
        row = self._row(pk)
        if row.status == FhirSubscriptionStatus.OFF:
            gone = Issue("deleted", f"Subscription/{pk} was deleted.")
            return Response(operation_outcome([gone]), status=410)
        return Response(subscriptions.subscription(row))

    def create(self, request):
        client = request.auth
        patients = Patient.objects.filter(clinic_id=client.clinic_id)
        try:
            asked = subscriptions.read(request.data, lambda pk: patients.filter(pk=pk).exists())
        except Refused as refused:
            return Response(operation_outcome(refused.issues), status=400)
        row = FhirSubscription.objects.create(
            clinic_id=client.clinic_id, client=client, **vars(asked)
        )
        # The handshake goes from the delivery worker, after this transaction commits.
        transaction.on_commit(partial(nudge, SUBSCRIPTIONS_TASK))
        location = request.build_absolute_uri(f"{BASE_PATH}Subscription/{row.pk}")
        body = subscriptions.subscription(row, with_secret=True)
        return Response(body, status=201, headers={"Location": location})

    def status(self, request, pk: str):
        """`Subscription/{id}/$status` (backport IG): a searchset Bundle of its
        SubscriptionStatus (type `query-status`), with the events counted so far."""
        check_params(request.query_params, set())
        row = self._row(pk)
        notice = Notice(row, notifications.QUERY_STATUS, row.events_since_start)
        found = notifications.status(notice, notifications.server_base())
        return Response({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": 1,
            "link": [{"relation": "self", "url": request.build_absolute_uri()}],
            "entry": [{"fullUrl": f"urn:uuid:{found['id']}", "resource": found,
                       "search": {"mode": "match"}}],
        })  # fmt: skip

    def destroy(self, request, pk: str):
        row = self._row(pk)
        row.status = FhirSubscriptionStatus.OFF
        row.save(update_fields=["status", "updated_at"])
        return Response(status=204)


class TopicViewSet(FhirMixin, ClinicScopedViewSet):
    """The SubscriptionTopics, as R4 `Basic` resources: the same for every client."""

    queryset = FhirSubscription.objects.none()  # no rows: the topics are code
    resource_type = "Basic"
    audit_patient_field = None
    filter_backends = []

    def list(self, request):
        check_params(request.query_params, {"code"})
        code = request.query_params.get("code", "SubscriptionTopic").rpartition("|")[2]
        topics = subscriptions.TOPICS.values() if code == "SubscriptionTopic" else []
        found = [subscriptions.topic_resource(t) for t in topics]
        return Response(searchset(request, found, None))

    def retrieve(self, request, pk: str):
        topic = next((t for t in subscriptions.TOPICS.values() if t.basic_id == pk), None)
        if topic is None:
            raise _not_found("Basic", pk)
        return Response(subscriptions.topic_resource(topic))


class MeasureView(FhirMixin, APIView):
    """`GET Measure/followup-capture`: the one Measure this server evaluates, the same for
    every caller (no clinic's data, nothing to audit)."""

    resource_type = "Measure"  # what a SMART token needs a grant for (HasScope)

    def get(self, request, pk: str):
        if pk != measures.MEASURE_ID:
            raise NotFound(f"Measure/{pk}: this server defines Measure/{measures.MEASURE_ID} only.")
        return Response(measures.measure())


class EvaluateMeasureView(FhirMixin, APIView):
    """`GET Measure/followup-capture/$evaluate-measure`: the capture rates of the caller's
    clinic over the surgeries of a period, as a summary MeasureReport. Audited like the
    REST report (followup/api/reports.py): a read with no patient in it."""

    resource_type = "Measure"

    def get(self, request):
        asked = measures.evaluation(request.query_params)
        clinic = chosen_clinic(request, asked.clinic_id, readable_clinic_ids(request))
        now = timezone.now()
        figures = outcomes.capture(clinic, asked.filters(), now)
        audit_report_read(request, clinic)
        return Response(measures.measure_report(figures, asked, clinic.name, now))


class CapabilityView(FhirMixin, APIView):
    any_grant = True  # what the server can do, for any SMART token (no clinic data)

    def get(self, request):
        return Response(capability_statement(base_url(request)))


class TransactionView(FhirMixin, APIView):
    """`POST /fhir/r4/` with a transaction Bundle: all or nothing."""

    def post(self, request):
        try:
            return Response(import_bundle(request))
        except Refused as refused:
            return Response(operation_outcome(refused.issues), status=400)


class UnknownView(FhirMixin, APIView):
    """Anything else under /fhir/r4/: an OperationOutcome, not an HTML page."""

    def dispatch_any(self, request, path: str):
        raise NotFound(f"{path}: this server has no such resource type or operation.")

    get = post = put = patch = delete = dispatch_any
