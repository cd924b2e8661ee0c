"""Query filters of the exams endpoint."""

import django_filters

from patients.base.api.filters import IsoDateTimeFilter

from ..models import ImagingExam


class ExamFilter(django_filters.FilterSet):
    patient = django_filters.NumberFilter(field_name="patient_id")
    surgery = django_filters.NumberFilter(field_name="surgery_id")
    modality = django_filters.CharFilter()
    accession_number = django_filters.CharFilter()
    study_instance_uid = django_filters.CharFilter()
    performed_after = IsoDateTimeFilter(field_name="performed_at", lookup_expr="gte")
    performed_before = IsoDateTimeFilter(field_name="performed_at", lookup_expr="lt")

    class Meta:
        model = ImagingExam
        fields = ["patient", "surgery", "modality", "accession_number", "study_instance_uid"]
