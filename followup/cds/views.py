"""`GET /cds-services` (discovery, open: it names services, no data) and
`POST /cds-services/<id>` (a hook request, with the EHR's JWT)."""

from django.utils import timezone
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from patients.base.api.permissions import HasClinicAccess
from patients.base.middleware import route_of
from patients.models import RecordRead

from .authentication import CdsHooksJwtAuthentication
from .services import SERVICES, answer


class DiscoveryView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request):
        return Response({"services": [service.discovery() for service in SERVICES.values()]})


class HookView(APIView):
    authentication_classes = [CdsHooksJwtAuthentication]
    permission_classes = [HasClinicAccess]

    def post(self, request, service_id: str):
        service = SERVICES.get(service_id)
        if service is None:
            raise NotFound("No such CDS service.")
        body = request.data
        if not isinstance(body, dict) or body.get("hook") != service.hook:
            raise ParseError(f"A {service.hook} hook request is expected here.")
        if not isinstance(body.get("hookInstance"), str):
            raise ParseError("hookInstance is missing.")
        identity = request.auth
        cards, patient = answer(service, identity.clinic, body)
        if cards and patient is not None:
            # What was shown about whom, as for every API read (never the cards' content).
            RecordRead.objects.create(
                clinic_id=identity.clinic_id,
                client=identity,
                endpoint=route_of(request),
                patient_ids=[patient.pk],
                at=timezone.now(),
            )
        return Response({"cards": cards})
