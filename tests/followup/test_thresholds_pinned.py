"""Numbers are pinned (CLINICAL_RULES §4): a surgery is judged with the thresholds in force
when it was planned; a new version applies to surgeries planned after it, and to older
ones only when staff re-plan them."""

import importlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from followup.models import Alert, AlertStatus, SurgeryPlan, Thresholds
from followup.pipeline import refresh
from patients.models import Role
from tests import factories
from tests.conftest import make_staff

from .browser_form import form_data
from .conftest import local

DAY0 = local("Europe/Paris", 2025, 1, 6, 9, 0)
LATER = DAY0 + timedelta(days=900)

migration = importlib.import_module("followup.migrations.0017_surgery_plan")


def fusion(clinic):
    surgery = factories.surgery(factories.patient(clinic), DAY0, procedure="tlif")
    refresh.refresh(surgery.pk, DAY0)
    surgery.refresh_from_db()
    return surgery


def loosening(surgery, refreshed: bool = True) -> bool:
    """Whether a 2.5 mm lucency, filmed on day 200, is called loosening."""
    if not surgery.patient.exams.exists():
        factories.exam(
            surgery.patient, surgery, performed_at=DAY0 + timedelta(days=200),
            findings=[{"code": "screw_lucency_mm", "value": 2.5, "level": "L5", "side": "left"}],
        )  # fmt: skip
    if refreshed:
        refresh.refresh(surgery.pk, LATER)
    return (
        Alert.objects.filter(surgery=surgery, code="screw_loosening")
        .exclude(status=AlertStatus.RESOLVED)
        .exists()
    )


@pytest.fixture
def shared_v1(protocols):
    return Thresholds.objects.get(clinic__isnull=True, version=1)


def test_a_new_surgery_is_pinned_to_the_version_in_force(shared_v1, paris):
    mine = Thresholds.objects.create(clinic=paris, screw_lucency_mm=3)
    assert fusion(paris).plan.thresholds == mine


def test_a_new_version_leaves_surgeries_planned_before_it_alone(shared_v1, paris):
    before = fusion(paris)
    assert before.plan.thresholds == shared_v1
    assert loosening(before)

    Thresholds.objects.create(clinic=paris, screw_lucency_mm=3)
    after = fusion(paris)

    assert loosening(before)  # still judged with 2 mm, however often it is refreshed
    assert not loosening(after)
    before.refresh_from_db()
    assert before.plan.thresholds == shared_v1


def test_editing_a_surgery_keeps_its_pin(shared_v1, paris):
    surgery = fusion(paris)
    Thresholds.objects.create(clinic=paris, screw_lucency_mm=3)

    surgery.notes = "edited"
    surgery.save()
    refresh.refresh(surgery.pk, LATER)

    surgery.refresh_from_db()
    assert surgery.plan.thresholds == shared_v1


def test_re_planning_on_purpose_moves_the_pin_onto_the_current_version(shared_v1, paris):
    surgery = fusion(paris)
    assert loosening(surgery)
    mine = Thresholds.objects.create(clinic=paris, screw_lucency_mm=3)

    refresh.refresh(surgery.pk, LATER, onto_current=True)

    surgery.refresh_from_db()
    assert surgery.plan.thresholds == mine
    assert not loosening(surgery)


def test_re_planning_judges_with_the_new_version_in_the_same_refresh(shared_v1, paris):
    surgery = fusion(paris)
    assert loosening(surgery)
    Thresholds.objects.create(clinic=paris, screw_lucency_mm=3)

    refresh.refresh(surgery.pk, LATER, onto_current=True)

    assert not loosening(surgery, refreshed=False)


# --- The migration pins existing surgeries to what was in force when they were created ----
# (patients/0008 did it when the thresholds came; followup/0017 does it for a database
# that predates them.)


def created(obj, when):
    type(obj).objects.filter(pk=obj.pk).update(created_at=when)


def test_the_migration_pins_each_surgery_to_the_version_of_its_creation(shared_v1, paris, clinic_b):
    t0 = timezone.now() - timedelta(days=100)
    created(shared_v1, t0)
    shared_v2 = Thresholds.objects.create(screw_lucency_mm=2.5)
    created(shared_v2, t0 + timedelta(days=20))
    paris_v1 = Thresholds.objects.create(clinic=paris, screw_lucency_mm=3)
    created(paris_v1, t0 + timedelta(days=40))

    def surgery_created(clinic, day):
        surgery = factories.surgery(factories.patient(clinic), DAY0)
        created(surgery, t0 + timedelta(days=day))
        return surgery

    ancient = surgery_created(paris, -10)  # before any version: the oldest one
    early = surgery_created(paris, 10)  # the shared default v1 then
    middle = surgery_created(paris, 30)  # the shared default v2 then
    recent = surgery_created(paris, 50)  # the clinic's own by then
    elsewhere = surgery_created(clinic_b, 50)  # the clinic's own is not another's
    SurgeryPlan.objects.update(thresholds=None)

    with connection.cursor() as cursor:
        cursor.execute(migration.PIN_THRESHOLDS)

    pins = dict(SurgeryPlan.objects.values_list("pk", "thresholds_id"))
    assert pins == {
        ancient.pk: shared_v1.pk,
        early.pk: shared_v1.pk,
        middle.pk: shared_v2.pk,
        recent.pk: paris_v1.pk,
        elsewhere.pk: shared_v2.pk,
    }


# --- The admin says what a new version does, and it does just that -------------------------


def test_saving_thresholds_in_the_admin_leaves_planned_surgeries_alone(shared_v1, paris):
    planned = fusion(paris)
    assert loosening(planned)
    browser = Client()
    browser.force_login(make_staff("manon", paris, Role.MANAGER))
    url = f"/admin/followup/thresholds/{shared_v1.pk}/change/"
    data = form_data(browser.get(url).content.decode(), "thresholds_form")
    data |= {"clinic": str(paris.pk), "screw_lucency_mm": "3", "_save": "Save"}

    response = browser.post(url, data, follow=True)

    messages = [str(m) for m in response.context["messages"]]
    assert any("surgeries already planned keep the thresholds they were planned with" in m
               for m in messages), messages  # fmt: skip
    mine = Thresholds.objects.current(paris.pk)
    assert (mine.clinic, mine.screw_lucency_mm) == (paris, 3)
    assert loosening(planned)  # still judged with 2 mm
    assert fusion(paris).plan.thresholds == mine
