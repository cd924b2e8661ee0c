"""application/fhir+json in and out, and every error as an OperationOutcome."""

from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer

from patients.base.api.errors import exception_handler as api_exception_handler
from patients.base.api.parsers import JSONParser

from .bundles import FHIR_JSON, outcome_for_error


class FhirJSONRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "fhir+json"


class FhirJSONParser(JSONParser):
    media_type = FHIR_JSON


class FhirNegotiation(BaseContentNegotiation):
    """Always FHIR JSON: whatever the Accept header, the answer is application/fhir+json
    (the only format this server has; `_format` is accepted and ignored)."""

    def select_parser(self, request, parsers):
        content_type = request.content_type.split(";")[0].strip()
        return next((p for p in parsers if p.media_type == content_type), None)

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def exception_handler(exc, context):
    """The API's own handling (status, rollback, 409 on a race), then the body as an
    OperationOutcome."""
    response = api_exception_handler(exc, context)
    if response is not None:
        response.data = outcome_for_error(response.status_code, response.data)
    return response


class FhirMixin:
    """What every FHIR view shares. Authentication and permissions are the project's
    defaults, as for /api/v1/; `required_scope` tells them this is FHIR."""

    required_scope = "fhir"
    renderer_classes = [FhirJSONRenderer]
    parser_classes = [FhirJSONParser, JSONParser]
    content_negotiation_class = FhirNegotiation

    def get_exception_handler(self):
        return exception_handler
