from followup.api.viewsets import ReadWriteViewSet

from ..models import Patient, Surgery
from .filters import PatientFilter, SurgeryFilter
from .serializers import PatientSerializer, SurgerySerializer


class PatientViewSet(ReadWriteViewSet):
    queryset = Patient.objects.select_related("clinic").prefetch_related("external_ids")
    serializer_class = PatientSerializer
    filterset_class = PatientFilter


class SurgeryViewSet(ReadWriteViewSet):
    queryset = Surgery.objects.all()
    serializer_class = SurgerySerializer
    filterset_class = SurgeryFilter
