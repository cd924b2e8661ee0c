import django_filters
from django.db.models import Q
from django.utils import timezone

from ..models import Alert, AlertStatus, Checkpoint, CheckpointKind, CheckpointStatus, Severity
from ..models.alerts import AlertCode
from ..models.checkpoints import status_filter


class CheckpointFilter(django_filters.FilterSet):
    patient = django_filters.NumberFilter(field_name="patient_id")
    surgery = django_filters.NumberFilter(field_name="surgery_id")
    status = django_filters.ChoiceFilter(choices=CheckpointStatus.choices, method="filter_status")
    kind = django_filters.ChoiceFilter(choices=CheckpointKind.choices)
    code = django_filters.CharFilter()
    due_before = django_filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="lt")
    due_after = django_filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="gte")

    class Meta:
        model = Checkpoint
        fields = ["patient", "surgery", "status", "kind", "code"]

    def filter_status(self, queryset, name, value):
        return queryset.filter(status_filter(value, timezone.now()))


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
        now = timezone.now()
        woken = Q(status=AlertStatus.SNOOZED, snoozed_until__lte=now)
        if value == AlertStatus.OPEN:
            return queryset.filter(Q(status=AlertStatus.OPEN) | woken)
        if value == AlertStatus.SNOOZED:
            return queryset.filter(status=AlertStatus.SNOOZED).exclude(woken)
        return queryset.filter(status=value)
