"""The follow-up endpoints: each patient's timeline, checkpoints (and their waive action),
alerts (and their lifecycle actions), subscriptions, webhooks."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from followup.pipeline import alerts_lifecycle, waivers
from followup.reads import timeline
from followup.reads.contrast_decisions import contrast_decisions
from patients.base.api.scoping import readable_clinic_ids, writable_clinic_ids
from patients.base.api.viewsets import ClinicScopedViewSet
from patients.models import ApiClient, Patient, Scope

from ..models import Alert, Checkpoint, Subscription, WebhookEndpoint
from .filters import AlertFilter, CheckpointFilter
from .serializers import (
    AlertSerializer,
    CheckpointSerializer,
    NewWebhookEndpointSerializer,
    ResolveSerializer,
    SnoozeSerializer,
    SubscriptionSerializer,
    TimelineSerializer,
    WaiveSerializer,
    WebhookEndpointSerializer,
)


def person(request):
    """The staff member acting, or None for an integration (the audit names the client)."""
    return request.user if getattr(request.user, "pk", None) else None


class PatientTimelineViewSet(ClinicScopedViewSet):
    """`GET /api/v1/patients/{id}/timeline/`: everything about the patient in time order,
    with the transitional variant on top (the patients' endpoints serve the record)."""

    queryset = Patient.objects.all()
    audit_patient_field = "patient"
    http_method_names = ["get", "head", "options"]
    filter_backends = []  # the patients list's filters do not apply to one timeline

    @extend_schema(responses=TimelineSerializer, filters=False)
    def retrieve(self, request, pk=None):
        patient = self.get_object()
        now = timezone.now()
        entries = timeline.build(patient, now)
        return Response(
            TimelineSerializer(
                {
                    "patient": patient.pk,
                    "mrn": patient.mrn,
                    "transitional_variant": patient.transitional_variant,
                    "lumbar_vertebrae": patient.lumbar_vertebrae,
                    "vertebral_numbering": patient.vertebral_numbering,
                    "dose": timeline.dose(patient, entries, now),
                    "entries": entries,
                }
            ).data
        )


class CheckpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    """Expected exams and milestones; their status is computed for "now"."""

    queryset = Checkpoint.objects.all()
    serializer_class = CheckpointSerializer
    filterset_class = CheckpointFilter

    def get_serializer(self, *args, **kwargs):
        # The decision support of the page's work-ups, in a fixed number of queries.
        if args and args[0] is not None:
            rows = args[0] if isinstance(args[0], list) else [args[0]]
            kwargs["context"] = {
                **self.get_serializer_context(),
                "decisions": contrast_decisions(rows, timezone.now()),
            }
        return super().get_serializer(*args, **kwargs)

    @extend_schema(request=WaiveSerializer, responses=CheckpointSerializer)
    @action(detail=True, methods=["post"])
    def waive(self, request, pk=None):
        checkpoint = self.get_object()
        self.check_object_permissions(request, checkpoint)
        body = WaiveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = person(request)
        try:
            waivers.waive(checkpoint, body.validated_data["reason"], user, timezone.now())
        except waivers.CannotWaive as error:
            raise ValidationError({"status": str(error)}) from None
        return Response(self.get_serializer(checkpoint).data)


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    """Alerts raised by the sweep and the findings rules; act on them with the actions."""

    queryset = Alert.objects.all()
    serializer_class = AlertSerializer
    filterset_class = AlertFilter

    def _act(self, request, change, body_class=None):
        alert = self.get_object()
        self.check_object_permissions(request, alert)
        data = {}
        if body_class is not None:
            body = body_class(data=request.data)
            body.is_valid(raise_exception=True)
            data = body.validated_data
        try:
            change(alert, data, timezone.now())
        except alerts_lifecycle.TransitionRefused as error:
            raise ValidationError({"status": str(error)}) from None
        return Response(self.get_serializer(alert).data)

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        user = person(request)
        return self._act(request, lambda a, _, now: alerts_lifecycle.acknowledge(a, user, now))

    @extend_schema(request=ResolveSerializer, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        user = person(request)
        return self._act(
            request,
            lambda a, data, now: alerts_lifecycle.resolve(a, user, data["note"], now),
            ResolveSerializer,
        )

    @extend_schema(request=SnoozeSerializer, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def snooze(self, request, pk=None):
        return self._act(
            request,
            lambda a, data, now: alerts_lifecycle.snooze(a, data["until"], now),
            SnoozeSerializer,
        )


class IsStaffMember(BasePermission):
    """A person working for a clinic, in any role: a viewer's read-only role is about the
    clinic's records, not their own e-mail settings (as in the admin)."""

    message = "Subscriptions belong to staff members of a clinic; an integration has none."

    def has_permission(self, request, view) -> bool:
        return bool(getattr(request.user, "pk", None)) and bool(readable_clinic_ids(request))


class SubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    ClinicScopedViewSet,
):
    """The calling staff member's own e-mail settings, per clinic."""

    queryset = Subscription.objects.all()
    serializer_class = SubscriptionSerializer
    permission_classes = [IsStaffMember]
    http_method_names = ["get", "post", "patch", "head", "options"]
    filterset_class = None

    def get_queryset(self):
        return super().get_queryset().filter(user=self.request.user)

    def perform_create(self, serializer):
        serializer.save(user=self.request.user)


class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ClinicScopedViewSet,
):
    """Receivers of the clinic's alert events (raised, acknowledged, resolved...), signed
    with HMAC-SHA256; needs the `webhooks` scope. DELETE stops deliveries."""

    queryset = WebhookEndpoint.objects.all()
    serializer_class = WebhookEndpointSerializer
    required_scope = Scope.WEBHOOKS
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_class = None

    @extend_schema(responses={201: NewWebhookEndpointSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        writable = sorted(writable_clinic_ids(request))
        if len(writable) != 1:
            raise ValidationError({"clinic": "Register webhooks with a clinic's own token."})
        # Revoking the registering client disables its receivers (followup/signals.py).
        client = request.auth if isinstance(request.auth, ApiClient) else None
        endpoint = serializer.save(clinic_id=writable[0], client=client)
        return Response(NewWebhookEndpointSerializer(endpoint).data, status=201)

    def perform_destroy(self, instance):
        instance.active = False  # the delivery log stays
        instance.save(update_fields=["active"])
