"""Query filters of the follow-up endpoints (checkpoints, alerts): status, kind, dates in
UTC."""

import django_filters
from django.utils import timezone

from patients.base.api.filters import IsoDateTimeFilter

from ..models import Alert, AlertStatus, Checkpoint, CheckpointKind, CheckpointStatus, Severity
from ..models.alerts import AlertCode


class CheckpointFilter(django_filters.FilterSet):
    patient = django_filters.NumberFilter(field_name="patient_id")
    surgery = django_filters.NumberFilter(field_name="surgery_id")
    status = django_filters.ChoiceFilter(choices=CheckpointStatus.choices, method="filter_status")
    kind = django_filters.ChoiceFilter(choices=CheckpointKind.choices)
    code = django_filters.CharFilter()
    due_before = IsoDateTimeFilter(field_name="due_at", lookup_expr="lt")
    due_after = IsoDateTimeFilter(field_name="due_at", lookup_expr="gte")

    class Meta:
        model = Checkpoint
        fields = ["patient", "surgery", "status", "kind", "code"]

    def filter_status(self, queryset, name, value):
        return queryset.with_status(value, timezone.now())


class AlertFilter(django_filters.FilterSet):
    patient = django_filters.NumberFilter(field_name="patient_id")
    surgery = django_filters.NumberFilter(field_name="surgery_id")
    status = django_filters.ChoiceFilter(choices=AlertStatus.choices, method="filter_status")
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    code = django_filters.ChoiceFilter(choices=AlertCode.choices)

    class Meta:
        model = Alert
        fields = ["patient", "surgery", "status", "severity", "code"]

    def filter_status(self, queryset, name, value):
        return queryset.with_status(value, timezone.now())
