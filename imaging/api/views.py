"""The exams endpoint: exams and findings, one by one or in bulk."""

from django.db.models import Q
from drf_spectacular.utils import OpenApiResponse, extend_schema

from patients.base.api.bulk import BulkLookup, BulkMixin
from patients.base.api.scoping import writable_clinic_ids
from patients.base.api.viewsets import ReadWriteViewSet

from ..models import ImagingExam
from .bulk import existing_exam, read_exams, save_exams
from .filters import ExamFilter
from .serializers import ExamSerializer


class ExamViewSet(BulkMixin, ReadWriteViewSet):
    """Imaging exams with their findings; the same accession number (or Study Instance
    UID) for the same patient updates the exam instead of creating a second."""

    queryset = ImagingExam.objects.prefetch_related("findings")
    serializer_class = ExamSerializer
    filterset_class = ExamFilter

    @extend_schema(
        responses={
            201: ExamSerializer,
            200: OpenApiResponse(ExamSerializer, description="Updated: same accession number."),
        }
    )
    def create(self, request, *args, **kwargs):
        """Create an exam with its findings, or update the one with this accession number."""
        return super().create(request, *args, **kwargs)

    def natural_match(self, data: dict, lookup: BulkLookup | None = None) -> ImagingExam | None:
        accession, uid, patient = (
            data.get("accession_number"), data.get("study_instance_uid"), data.get("patient")
        )  # fmt: skip
        if not str(patient).isdecimal():
            return None
        # Only strings can be keys (a list would not even hash in the bulk lookup).
        accession, uid = (v if isinstance(v, str) else None for v in (accession, uid))
        if lookup is not None:
            return existing_exam(lookup, patient, accession, uid)
        keys = Q()
        if isinstance(accession, str) and accession:
            keys |= Q(accession_number=accession)
        if isinstance(uid, str) and uid:
            keys |= Q(study_instance_uid=uid)
        if not keys:
            return None
        return (
            self.get_queryset()
            .filter(keys, clinic_id__in=writable_clinic_ids(self.request), patient_id=patient)
            .first()
        )

    # --- bulk ---------------------------------------------------------------------------

    def bulk_lookup(self, request, records):
        lookup = super().bulk_lookup(request, records)
        read_exams(lookup, writable_clinic_ids(request), records)
        return lookup

    def bulk_existing(self, record, lookup):
        return self.natural_match(record, lookup)

    def bulk_key(self, serializer):
        data = serializer.validated_data
        patient = data.get("patient") or serializer.instance.patient
        return (patient.clinic_id, data.get("accession_number"))

    def bulk_save(self, valid):
        return save_exams(valid)
