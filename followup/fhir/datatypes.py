"""Small builders for FHIR data types; resources are plain dicts."""

from datetime import UTC, datetime


def instant(value: datetime) -> str:
    """A FHIR dateTime/instant with its offset (UTC)."""
    return value.astimezone(UTC).isoformat()


def reference(resource_type: str, resource_id: object) -> dict:
    return {"reference": f"{resource_type}/{resource_id}"}


def coding(system: str, code: str, display: str | None = None) -> dict:
    return compact({"system": system, "code": code, "display": display})


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict:
    return compact({"coding": [coding(system, code, display)], "text": text})


def meta(updated_at: datetime | None) -> dict | None:
    return {"lastUpdated": instant(updated_at)} if updated_at else None


def compact(resource: dict) -> dict:
    """FHIR has no empty values: leave out None, empty strings, lists and objects."""
    return {key: value for key, value in resource.items() if value not in (None, "", [], {})}


def extension(url: str, **value) -> dict:
    """One extension: `extension(URL, valueCode="x")`."""
    return {"url": url, **value}


def extensions_of(resource: dict, url: str) -> list[dict]:
    return [e for e in resource.get("extension") or [] if e.get("url") == url]


def codes_in(concepts: list[dict] | dict | None, system: str) -> list[str]:
    """The codes of `system` in one CodeableConcept or a list of them."""
    if isinstance(concepts, dict):
        concepts = [concepts]
    return [
        c["code"]
        for concept_ in concepts or []
        for c in concept_.get("coding") or []
        if c.get("system") == system and c.get("code")
    ]
