"""The patients' endpoints: patients (bulk too), surgeries, clinical events, assessments."""

from django.db.models import Q

from patients.base.api.bulk import BulkMixin
from patients.base.api.scoping import writable_clinic_ids
from patients.base.api.viewsets import ReadWriteViewSet

from ..models import Assessment, Clinic, ClinicalEvent, Patient, Surgery
from ..signals import clinical_event_recorded
from .filters import AssessmentFilter, ClinicalEventFilter, PatientFilter, SurgeryFilter
from .serializers import (
    AssessmentSerializer,
    ClinicalEventSerializer,
    PatientSerializer,
    SurgerySerializer,
)


class PatientViewSet(BulkMixin, ReadWriteViewSet):
    """Patients; a POST with an MRN or external identifier already known in the clinic
    updates that patient (an upsert) instead of creating a second."""

    queryset = Patient.objects.select_related("clinic").prefetch_related("external_ids")
    serializer_class = PatientSerializer
    filterset_class = PatientFilter
    audit_patient_field = "id"

    def natural_match(self, data: dict, lookup=None) -> Patient | None:
        clinics = Clinic.objects.filter(pk__in=writable_clinic_ids(self.request))
        if isinstance(data.get("clinic"), str):
            clinics = clinics.filter(slug=data["clinic"])
        keys = Q(mrn=data["mrn"]) if isinstance(data.get("mrn"), str) and data["mrn"] else Q()
        identifiers = data.get("external_ids")
        for item in identifiers if isinstance(identifiers, list) else []:
            if not isinstance(item, dict):
                continue
            system, value = item.get("system"), item.get("value")
            if isinstance(system, str) and isinstance(value, str) and system and value:
                keys |= Q(external_ids__system=system, external_ids__value=value)
        if not keys:
            return None
        found = list(
            Patient.objects.filter(keys, clinic__in=clinics).select_related("clinic").distinct()[:2]
        )
        return found[0] if len(found) == 1 else None

    def bulk_existing(self, record, lookup):
        return self.natural_match(record)

    def bulk_key(self, serializer):
        data = serializer.validated_data
        return (data["clinic"].pk, data.get("mrn", getattr(serializer.instance, "mrn", None)))


class SurgeryViewSet(BulkMixin, ReadWriteViewSet):
    queryset = Surgery.objects.all()
    serializer_class = SurgerySerializer
    filterset_class = SurgeryFilter


class ClinicalEventViewSet(ReadWriteViewSet):
    """Symptoms that call for imaging now; each schedules a work-up (CLINICAL_RULES §5)."""

    queryset = ClinicalEvent.objects.prefetch_related("workups")
    serializer_class = ClinicalEventSerializer
    filterset_class = ClinicalEventFilter

    def perform_create(self, serializer):
        clinical_event_recorded.send(ClinicalEvent, event=serializer.save())

    def perform_update(self, serializer):
        clinical_event_recorded.send(ClinicalEvent, event=serializer.save())


class AssessmentViewSet(ReadWriteViewSet):
    """Patient-reported outcomes; a recurrence after a pain-free interval starts a work-up."""

    queryset = Assessment.objects.all()
    serializer_class = AssessmentSerializer
    filterset_class = AssessmentFilter
