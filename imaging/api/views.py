from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from followup.api.scoping import writable_clinic_ids
from followup.api.viewsets import ReadWriteViewSet

from ..models import ImagingExam
from .filters import ExamFilter
from .serializers import ExamSerializer


class ExamViewSet(ReadWriteViewSet):
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
        existing = self._same_accession(request.data)
        serializer = self.get_serializer(existing, data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        created = existing is None
        return Response(serializer.data, status=status.HTTP_201_CREATED if created else 200)

    def _same_accession(self, data) -> ImagingExam | None:
        if not isinstance(data, dict):
            return None
        accession, patient = data.get("accession_number"), data.get("patient")
        if not isinstance(accession, str) or not str(patient).isdigit():
            return None
        return (
            self.get_queryset()
            .filter(
                clinic_id__in=writable_clinic_ids(self.request),
                accession_number=accession,
                patient_id=patient,
            )
            .first()
        )
