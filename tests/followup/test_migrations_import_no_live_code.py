"""Migrations run the code written in them, never the project's live code.

A migration that imports a module of the project runs whatever that module says today,
not what it said when the migration was written, and breaks when the module moves. The
only references allowed are the ones Django's migration writer puts in a field
definition (a validator, an `on_delete`, a default): `import app.module` used there and
nowhere else.
"""

import ast
import importlib
from pathlib import Path

import pytest

from followup.rules import default_protocols as defaults

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("followup", "patients", "imaging")
FIELD_CALLABLES = {"validators", "on_delete", "default", "upload_to", "limit_choices_to"}
MIGRATIONS = sorted(
    path for app in PROJECT for path in (ROOT / app / "migrations").glob("[0-9]*.py")
)


def is_project(module: str) -> bool:
    return module.split(".")[0] in PROJECT


def dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return base and f"{base}.{node.attr}"
    return None


def field_callable_nodes(tree: ast.AST) -> set[int]:
    """The ids of every node inside a field's callable keyword argument."""
    inside = set()
    for call in ast.walk(tree):
        if isinstance(call, ast.Call):
            for keyword in call.keywords:
                if keyword.arg in FIELD_CALLABLES:
                    inside.update(id(node) for node in ast.walk(keyword.value))
    return inside


def live_code_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    problems, imported = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and is_project(node.module):
            problems.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names if is_project(alias.name))
            problems.extend(
                f"line {node.lineno}: import {alias.name} as {alias.asname}"
                for alias in node.names
                if is_project(alias.name) and alias.asname
            )
    allowed = field_callable_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name) and id(node) not in allowed:
            name = dotted(node)
            if name and any(name.startswith(f"{module}.") for module in imported):
                problems.append(f"line {node.lineno}: {name} outside a field definition")
    return problems


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_migration_imports_no_live_code(path):
    assert live_code_uses(path) == []


def test_the_check_sees_an_import_of_live_code(tmp_path):
    migration = tmp_path / "0099_seed.py"
    migration.write_text(
        "import followup.models.checkpoints\n"
        "from followup.defaults import load_default_protocols\n"
        "from django.db import migrations, models\n"
        "FIELD = models.ForeignKey('x', on_delete=followup.models.checkpoints.unsatisfy)\n"
        "def load(apps, schema_editor):\n"
        "    followup.models.checkpoints.unsatisfy(None, None, [], None)\n"
    )
    assert live_code_uses(migration) == [
        "line 2: from followup.defaults import ...",
        "line 6: followup.models.checkpoints.unsatisfy outside a field definition",
    ]


def test_the_seed_data_of_the_migrations_is_what_the_fixtures_load():
    """A fresh database and the tests' `protocols` fixture hold the same protocols."""
    protocols = importlib.import_module("followup.migrations.0002_default_protocols")
    workups = importlib.import_module("followup.migrations.0005_default_workups")
    proms = importlib.import_module("followup.migrations.0022_prom_time_points")
    migrated = [
        {**spec, "definitions": [*spec["definitions"], *proms.PROM_TIME_POINTS]}
        if spec["family"] in proms.FAMILIES
        else spec
        for spec in [*protocols.PROTOCOLS, workups.WORKUPS]
    ]
    assert migrated == defaults.PROTOCOLS
