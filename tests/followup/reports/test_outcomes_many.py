"""The reports of several clinics computed together (`outcomes.run_many`, what a network's
report of all its clinics runs) are each clinic's own report, figure for figure: clinics
in different time zones, one with outcome standards of its own (computed in a pass of its
own)."""

import json
import math

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext

from followup.models import Alert, OutcomeStandards
from followup.ops.cohort import Generator
from followup.reports import outcomes, selection
from patients.models import Clinic, Patient, RecordRead

from .conftest import EFFECTS, NOW, SURGEONS, TODAY

SEED = 43


def same(a, b) -> bool:
    """Equal, floats to 12 digits (a mean adds its terms in the order the rows come)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.fixture(scope="module")
def three(django_db_setup, django_db_blocker):
    """Three clinics of 60 patients (the cohort's zones differ), generated once."""
    with django_db_blocker.unblock():
        Generator(seed=SEED, today=TODAY, effects=EFFECTS, surgeons=SURGEONS).run(
            180, patients_per_clinic=60
        )
        clinics = list(Clinic.objects.filter(slug__startswith=f"cohort-{SEED}-").order_by("pk"))
        yield clinics
        Patient.objects.filter(clinic__in=clinics).delete()
        Alert.objects.filter(clinic__in=clinics).delete()
        OutcomeStandards.objects.filter(clinic__in=clinics).delete()
        Clinic.objects.filter(pk__in=[c.pk for c in clinics]).delete()


@pytest.mark.parametrize("group_by", ["none", "surgeon", "procedure"])
def test_clinics_together_are_each_clinics_own_report(db, three, group_by):
    assert len({clinic.timezone for clinic in three}) > 1
    OutcomeStandards.objects.create(clinic=three[2], baseline_days=30, nrs_mcid=3)
    filters = selection.Filters(group_by=group_by)
    with CaptureQueriesContext(connection) as queries:
        together = outcomes.run_many(three, filters, NOW)
    alone = {clinic.pk: outcomes.run(clinic, filters, NOW) for clinic in three}
    assert same(together, alone)
    assert all(report["groups"][0]["surgeries"] > 0 for report in together.values())
    assert together[three[2].pk]["standards"]["baseline_days"] == 30
    # One pass for the two clinics on the shared standards, one for the third: the
    # standards (1), then per pass the memory setting, the selection (create, analyse,
    # drop), eight sections and the savepoint around them.
    assert len(queries) == 1 + 2 * 13


def test_the_command_writes_the_reports_by_slug_and_audits_each_read(db, three, capsys):
    with time_machine.travel(NOW, tick=False):  # the cohort's "now"
        call_command("outcomes_report", "--clinic", three[0].slug, "--clinic", three[1].slug,
                     "--group-by", "surgeon")  # fmt: skip
    written = json.loads(capsys.readouterr().out)
    assert set(written) == {three[0].slug, three[1].slug}
    filters = selection.Filters(group_by="surgeon")
    for clinic in three[:2]:
        alone = json.loads(json.dumps(outcomes.run(clinic, filters, NOW), cls=DjangoJSONEncoder))
        mine = written[clinic.slug]
        assert same(mine["capture"], alone["capture"]) and mine["groups"] == alone["groups"]
    reads = RecordRead.objects.filter(endpoint="manage.py outcomes_report")
    assert sorted(r.clinic_id for r in reads) == sorted(c.pk for c in three[:2])
    assert all(r.patient_ids == [] and r.user is None for r in reads)


def test_the_command_refuses_an_unknown_clinic_and_a_bad_filter(db, three):
    with pytest.raises(CommandError, match="No clinic nowhere"):
        call_command("outcomes_report", "--clinic", "nowhere")
    with pytest.raises(CommandError, match="group_by"):
        call_command("outcomes_report", "--group-by", "mood")
    assert not RecordRead.objects.filter(endpoint="manage.py outcomes_report").exists()
