"""The OpenAPI document describes /api/; FHIR clients read /fhir/r4/metadata instead."""


def only_rest_api(endpoints):
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]
