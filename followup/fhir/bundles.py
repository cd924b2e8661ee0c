"""Bundles and OperationOutcomes: the envelopes of every FHIR answer."""

from dataclasses import dataclass, field

from django.http import JsonResponse
from rest_framework.request import Request

FHIR_JSON = "application/fhir+json"

BASE_PATH = "/fhir/r4/"


def base_url(request: Request) -> str:
    return request.build_absolute_uri(BASE_PATH)


def searchset(
    request: Request,
    resources: list[dict],
    next_url: str | None,
    included: list[dict] = (),
) -> dict:
    """A page of matches, and the resources `_include` asked for beside them."""
    base = base_url(request)
    links = [{"relation": "self", "url": request.build_absolute_uri()}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    entries = [
        {"fullUrl": f"{base}{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": mode}}
        for mode, group in (("match", resources), ("include", included))
        for r in group
    ]
    bundle = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if entries:  # FHIR has no empty arrays
        bundle["entry"] = entries
    return bundle


def count_only(request: Request, total: int) -> dict:
    """The answer to `_summary=count`: how many match, no entries."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": "self", "url": request.build_absolute_uri()}],
    }


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome issue; `code` is from FHIR's issue-type value set."""

    code: str
    diagnostics: str
    expression: list[str] = field(default_factory=list)
    severity: str = "error"

    def as_fhir(self) -> dict:
        issue = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = self.expression
        return issue


def operation_outcome(issues: list[Issue]) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [i.as_fhir() for i in issues]}


ISSUE_CODE_FOR_STATUS = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    412: "conflict",
    415: "not-supported",
    429: "throttled",
}


def flatten_errors(detail, path: str = "") -> list[tuple[str, str]]:
    """DRF error details as (field path, message) pairs: `external_ids.0.value`."""
    if isinstance(detail, dict):
        return [
            pair
            for key, value in detail.items()
            for pair in flatten_errors(value, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [(path, str(item)) for item in detail]
        return [
            pair
            for index, item in enumerate(detail)
            for pair in flatten_errors(item, f"{path}.{index}" if path else str(index))
        ]
    return [(path, str(detail))]


def outcome_for_error(status_code: int, detail) -> dict:
    code = ISSUE_CODE_FOR_STATUS.get(status_code, "exception")
    issues = [
        Issue(code, message if path in ("", "detail") else f"{path}: {message}")
        for path, message in flatten_errors(detail)
    ]
    return operation_outcome(issues or [Issue(code, f"HTTP {status_code}")])


def outcome_answer(status: int, code: str, detail: str) -> JsonResponse:
    """An OperationOutcome answered outside any view (a 503 of the transient-error
    middleware, Django's handler500), hence not a DRF Response."""
    return JsonResponse(
        operation_outcome([Issue(code, detail)]), status=status, content_type=FHIR_JSON
    )


def unavailable(detail: str, retry_after: int) -> JsonResponse:
    """The API's 503 (patients.base.api.errors.unavailable) as an OperationOutcome."""
    response = outcome_answer(503, "transient", detail)
    response["Retry-After"] = str(retry_after)
    return response
