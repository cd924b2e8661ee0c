"""A transaction Bundle's entries, checked before anything touches the database:
the envelope, the types we import, and each resource against the FHIR R4 model."""

from dataclasses import dataclass

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as ModelError

from .bundles import Issue

IMPORTED = ("Patient", "Procedure", "ImagingStudy", "DiagnosticReport")
MAX_ENTRIES = 1000


class Refused(Exception):
    """The whole Bundle is refused: nothing is written; the issues say why."""

    def __init__(self, issues: list[Issue]):
        super().__init__(f"{len(issues)} issue(s)")
        self.issues = issues


@dataclass(frozen=True)
class Entry:
    index: int
    full_url: str
    resource: dict

    @property
    def type(self) -> str:
        return self.resource.get("resourceType", "")

    @property
    def label(self) -> str:
        """How an OperationOutcome names the entry: `Bundle.entry[2] (Procedure urn:...)`."""
        named = f"{self.type} {self.full_url}".strip()
        return f"Bundle.entry[{self.index}] ({named})"

    def matches(self, reference: str) -> bool:
        """Whether a reference inside the Bundle names this entry."""
        if self.full_url and reference == self.full_url:
            return True
        own_id = self.resource.get("id")
        if own_id and reference == f"{self.type}/{own_id}":
            return True
        # A relative reference is resolved against the base of the entry's fullUrl.
        relative = not reference.startswith(("urn:", "http://", "https://"))
        return relative and bool(self.full_url) and self.full_url.endswith(f"/{reference}")

    def issue(self, code: str, message: str, element: str = "") -> Issue:
        where = f"Bundle.entry[{self.index}].resource" + (f".{element}" if element else "")
        subject = f"{self.type}.{element}: " if element else ""
        return Issue(code, f"{self.label}: {subject}{message}", [where])


def read_bundle(bundle: object) -> list[Entry]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise Refused([Issue("structure", "Expected a Bundle resource.")])
    if bundle.get("type") != "transaction":
        raise Refused(
            [
                Issue(
                    "not-supported",
                    f"Bundle.type is {bundle.get('type')!r}: only a transaction Bundle is "
                    "imported (all or nothing).",
                    ["Bundle.type"],
                )
            ]
        )
    raw = bundle.get("entry") or []
    if not isinstance(raw, list) or len(raw) > MAX_ENTRIES:
        raise Refused(
            [Issue("too-costly", f"Bundle.entry must be a list of at most {MAX_ENTRIES}.")]
        )
    entries, issues = [], []
    for index, item in enumerate(raw):
        entry, problems = _read_entry(index, item)
        issues += problems
        if entry is not None:
            entries.append(entry)
    issues += _duplicate_full_urls(entries)
    if issues:
        raise Refused(issues)
    return entries


def _read_entry(index: int, item: object) -> tuple[Entry | None, list[Issue]]:
    where = f"Bundle.entry[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("resource"), dict):
        return None, [Issue("required", f"{where}: has no resource.", [where])]
    entry = Entry(index, str(item.get("fullUrl") or ""), item["resource"])
    if entry.type not in IMPORTED:
        message = f"{entry.type or 'a resource without resourceType'} is not imported here: " + (
            f"a transaction Bundle holds {', '.join(IMPORTED)}."
        )
        return None, [Issue("not-supported", f"{entry.label}: {message}", [where])]
    method = (item.get("request") or {}).get("method")
    if method not in ("POST", "PUT"):
        message = (
            f"request.method is {method!r}: entries are created or updated (POST or PUT), "
            "matched by identifier."
        )
        return None, [Issue("not-supported", f"{entry.label}: {message}", [f"{where}.request"])]
    return entry, _model_issues(entry)


def _model_issues(entry: Entry) -> list[Issue]:
    """The resource against the FHIR R4 model (fhir.resources, R4B models)."""
    try:
        get_fhir_model_class(entry.type).model_validate(entry.resource)
    except ModelError as error:
        return [
            entry.issue(
                "structure",
                problem["msg"],
                ".".join(str(part) for part in problem["loc"]),
            )
            for problem in error.errors()
        ]
    return []


def _duplicate_full_urls(entries: list[Entry]) -> list[Issue]:
    seen: dict[str, Entry] = {}
    issues = []
    for entry in entries:
        if entry.full_url and entry.full_url in seen:
            first = seen[entry.full_url]
            issues.append(entry.issue("duplicate", f"has the same fullUrl as {first.label}."))
        seen.setdefault(entry.full_url, entry)
    return issues
