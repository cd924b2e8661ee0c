"""The documented backup and restore drill, run for real against the test database."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from followup.pipeline import refresh
from tests import factories


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_into_a_fresh_database_is_identical(
    protocols, clinic_a, capsys, monkeypatch
):
    # The drill compares a dump with the live tables: nothing may write in between. The
    # session's real worker would refresh the new surgery at some moment of its own, so
    # the refresh is done here, before the drill, and no nudge reaches the worker.
    monkeypatch.setattr(refresh, "nudge", lambda task, *args: None)
    patient = factories.patient(clinic_a, family_name="Restored")
    surgery = factories.surgery(patient)
    factories.exam(patient, surgery, findings=[{"code": "screw_lucency_mm", "value": 2.5}])
    assert refresh.refresh(surgery.pk, timezone.now())

    call_command("backup_drill")

    assert "identical" in capsys.readouterr().out
