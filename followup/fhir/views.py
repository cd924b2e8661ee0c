"""FHIR endpoints: read and search per type, the CapabilityStatement, the import.

Scoping is the REST API's: a resource of another clinic does not exist (404).
Each search costs a fixed number of queries, whatever the number of rows.
"""

from django.utils import timezone
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from imaging.models import Finding, ImagingExam
from patients.base.api.read_audit import AuditedReads
from patients.base.api.scoping import readable_clinic_ids
from patients.base.api.viewsets import ClinicScopedViewSet
from patients.models import Assessment, Patient, Surgery

from ..models import Alert, AlertStatus
from . import followup_resources, observations, resources
from .bundles import base_url, operation_outcome, searchset
from .capability import capability_statement
from .entries import Refused
from .importer import import_bundle
from .rendering import FhirMixin
from .search import SearchPagination, check_params, patient_id, with_identifier


def _not_found(resource_type: str, resource_id: str) -> NotFound:
    return NotFound(f"{resource_type}/{resource_id} is not a resource of your clinic.")


class ResourceViewSet(FhirMixin, ClinicScopedViewSet):
    """`GET Type/<id>` and `GET Type?patient=<id>` for one type over one model."""

    audit_patient_field = "fhir"  # reads are audited (patients/base/api/read_audit.py)

    resource_type = ""
    search_params = frozenset({"patient"})
    pagination_class = SearchPagination
    filter_backends = []

    def to_fhir(self, row) -> dict:
        raise NotImplementedError

    def search(self, queryset, params):
        if "patient" in params:
            queryset = queryset.filter(patient_id=patient_id(params["patient"]))
        return queryset

    def list(self, request):
        check_params(request.query_params, self.search_params)
        page = self.paginate_queryset(self.search(self.get_queryset(), request.query_params))
        resources_ = [self.to_fhir(row) for row in page]
        return Response(searchset(request, resources_, self.paginator.get_next_link()))

    def retrieve(self, request, pk: str):
        row = self.get_queryset().filter(pk=int(pk)).first() if pk.isdecimal() else None
        if row is None:
            raise _not_found(self.resource_type, pk)
        return Response(self.to_fhir(row))


class PatientViewSet(ResourceViewSet):
    resource_type = "Patient"
    queryset = Patient.objects.prefetch_related("external_ids")
    search_params = frozenset({"identifier"})

    def search(self, queryset, params):
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

    def to_fhir(self, row):
        return resources.imaging_study(row)


class DiagnosticReportViewSet(ResourceViewSet):
    resource_type = "DiagnosticReport"
    queryset = ImagingExam.objects.prefetch_related("findings")

    def to_fhir(self, row):
        return resources.diagnostic_report(row)


class CarePlanViewSet(ResourceViewSet):
    resource_type = "CarePlan"
    queryset = Surgery.objects.prefetch_related("checkpoints")

    def to_fhir(self, row):
        return followup_resources.care_plan(row, timezone.now())


class FlagViewSet(ResourceViewSet):
    """A search lists the open alerts; a read answers any alert, inactive once handled."""

    resource_type = "Flag"
    queryset = Alert.objects.all()

    def search(self, queryset, params):
        return super().search(queryset, params).with_status(AlertStatus.OPEN, timezone.now())

    def to_fhir(self, row):
        return followup_resources.flag(row, timezone.now())


class ObservationView(FhirMixin, AuditedReads, APIView):
    """Findings and scores of one patient; two tables, so a search needs `patient` and
    answers in one page."""

    resource_type = "Observation"  # what a SMART token needs a grant for (HasScope)
    audit_patient_field = "fhir"  # reads are audited (patients/base/api/read_audit.py)

    def get(self, request, pk: str | None = None):
        readable = readable_clinic_ids(request)
        if pk is not None:
            return Response(self._read(pk, readable))
        check_params(request.query_params, {"patient"})
        if unpaged := {"_count", "_cursor"} & set(request.query_params):
            raise ParseError(f"{', '.join(sorted(unpaged))}: an Observation search is one page.")
        if "patient" not in request.query_params:
            raise ParseError("An Observation search needs patient=<id>.")
        patient = patient_id(request.query_params["patient"])
        findings = (
            Finding.objects.filter(exam__clinic_id__in=readable, exam__patient_id=patient)
            .select_related("exam")
            .order_by("exam__performed_at", "id")
        )
        assessments = Assessment.objects.filter(
            clinic_id__in=readable, patient_id=patient
        ).order_by("assessed_at", "id")
        found = [observations.finding(f) for f in findings]
        found += [score for a in assessments for score in observations.scores(a)]
        return Response(searchset(request, found, None))

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


class CapabilityView(FhirMixin, APIView):
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
