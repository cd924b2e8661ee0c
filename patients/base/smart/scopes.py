"""SMART system scopes (`system/Patient.rs`, `system/*.cruds`; v1 `system/*.read`) read
into what they grant per resource type, and onto the client scopes of the API.

A grant is per resource type: `read` (v2 `r`/`s`, v1 `read`) and `write` (v2 `c`/`u`/`d`,
v1 `write`). On the client scopes: any read grant opens `read` and `fhir`, any write grant
`write` (checked per request, with the resource type, by `HasScope`). The REST API
(`/api/v1/`) and FHIR's transaction have no single resource type: they need `system/*`.
"""

import re
from dataclasses import dataclass

from patients.models import Scope

_SCOPE = re.compile(r"^system/(?P<type>\*|[A-Z][A-Za-z]{1,63})\.(?P<perms>read|write|\*|[cruds]+)$")
_V2_ORDER = "cruds"
READ, WRITE = "read", "write"


class InvalidScope(Exception):
    pass


def _access(perms: str) -> frozenset[str]:
    if perms == "read":
        return frozenset({READ})
    if perms == "write":
        return frozenset({WRITE})
    if perms == "*":
        return frozenset({READ, WRITE})
    letters = [c for c in _V2_ORDER if c in perms]
    if "".join(letters) != perms:  # each letter once, in the order c r u d s
        raise InvalidScope(perms)
    access = set()
    if {"r", "s"} & set(perms):
        access.add(READ)
    if {"c", "u", "d"} & set(perms):
        access.add(WRITE)
    return frozenset(access)


@dataclass(frozen=True)
class Grants:
    """Resource type (or `*`) -> {read, write}."""

    by_type: dict[str, frozenset[str]]

    @classmethod
    def parse(cls, scope: str) -> "Grants":
        """Raises InvalidScope naming the first scope that is not a SMART system scope."""
        by_type: dict[str, set[str]] = {}
        for item in scope.split():
            match = _SCOPE.match(item)
            if match is None:
                raise InvalidScope(item)
            try:
                access = _access(match["perms"])
            except InvalidScope:
                raise InvalidScope(item) from None
            by_type.setdefault(match["type"], set()).update(access)
        return cls({t: frozenset(a) for t, a in by_type.items()})

    def narrowed_to(self, allowed: set[str]) -> "Grants":
        """Only what the client may be granted (`read` and/or `write`)."""
        kept = {t: a & allowed for t, a in self.by_type.items()}
        return Grants({t: a for t, a in kept.items() if a})

    def allows(self, resource_type: str | None, access: str) -> bool:
        """`resource_type` None: a route of several types (the REST API, a transaction)."""
        if access in self.by_type.get("*", ()):
            return True
        return resource_type is not None and access in self.by_type.get(resource_type, ())

    def client_scopes(self) -> list[str]:
        every = set().union(*self.by_type.values()) if self.by_type else set()
        scopes = [Scope.READ, Scope.FHIR] if READ in every else []
        if WRITE in every:
            scopes = [*scopes, Scope.WRITE] if scopes else [Scope.FHIR, Scope.WRITE]
        return [str(s) for s in scopes]

    def __str__(self) -> str:
        """The granted scope, in SMART v2 syntax (`system/Patient.rs system/*.cud`)."""
        perms = {frozenset({READ}): "rs", frozenset({WRITE}): "cud"}
        return " ".join(
            f"system/{t}.{perms.get(a, 'cruds')}" for t, a in sorted(self.by_type.items())
        )

    def __bool__(self) -> bool:
        return bool(self.by_type)
