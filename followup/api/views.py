from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .. import alerts_lifecycle, checkpoints
from ..decisions import contrast_decisions
from ..models import Alert, Checkpoint
from .filters import AlertFilter, CheckpointFilter
from .serializers import (
    AlertSerializer,
    CheckpointSerializer,
    ResolveSerializer,
    SnoozeSerializer,
    WaiveSerializer,
)
from .viewsets import ClinicScopedViewSet


def person(request):
    """The staff member acting, or None for an integration (the audit names the client)."""
    return request.user if getattr(request.user, "pk", None) else None


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
            checkpoints.waive(checkpoint, body.validated_data["reason"], user, timezone.now())
        except checkpoints.CannotWaive as error:
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
