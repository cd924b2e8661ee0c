"""The documented backup and restore drill, run for real against the test database."""

import pytest
from django.core.management import call_command

from tests import factories


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_into_a_fresh_database_is_identical(protocols, clinic_a, capsys):
    patient = factories.patient(clinic_a, family_name="Restored")
    factories.exam(patient, factories.surgery(patient),
                   findings=[{"code": "screw_lucency_mm", "value": 2.5}])  # fmt: skip
    call_command("backup_drill")
    assert "identical" in capsys.readouterr().out
