"""Query filters of the patients' endpoints: patients, surgeries, clinical events,
assessments."""

import django_filters

from ..models import Assessment, ClinicalEvent, EventCode, Patient, Surgery


class PatientFilter(django_filters.FilterSet):
    mrn = django_filters.CharFilter()
    family_name = django_filters.CharFilter(lookup_expr="iexact")
    identifier = django_filters.CharFilter(
        method="filter_identifier", label="An external identifier, as system|value"
    )

    class Meta:
        model = Patient
        fields = ["mrn", "family_name"]

    def filter_identifier(self, queryset, name, value):
        system, _, identifier = value.rpartition("|")
        return queryset.filter(external_ids__system=system, external_ids__value=identifier)


class SurgeryFilter(django_filters.FilterSet):
    patient = django_filters.NumberFilter(field_name="patient_id")
    procedure = django_filters.CharFilter()

    class Meta:
        model = Surgery
        fields = ["patient", "procedure"]


class ClinicalEventFilter(django_filters.FilterSet):
    patient = django_filters.NumberFilter(field_name="patient_id")
    surgery = django_filters.NumberFilter(field_name="surgery_id")
    code = django_filters.ChoiceFilter(choices=EventCode.choices)

    class Meta:
        model = ClinicalEvent
        fields = ["patient", "surgery", "code"]


class AssessmentFilter(django_filters.FilterSet):
    patient = django_filters.NumberFilter(field_name="patient_id")
    surgery = django_filters.NumberFilter(field_name="surgery_id")

    class Meta:
        model = Assessment
        fields = ["patient", "surgery"]
