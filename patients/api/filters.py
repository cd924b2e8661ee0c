import django_filters

from ..models import Patient, Surgery


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
