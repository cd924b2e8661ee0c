"""followup/0017 moves the surgery's follow-up plan (pinned protocol and thresholds, stale
mark) off patients_surgery into followup_surgeryplan: a database at the previous head
keeps its data and audit history, ends up with the same schema and audit triggers as a
fresh one, and goes back to the previous head as it was."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from followup.models import SurgeryPlan
from patients.models import Surgery

pytestmark = pytest.mark.django_db(transaction=True)

# The previous release: both apps as they were (later patients migrations add NOT NULL
# columns the raw inserts below do not know).
PREVIOUS = [
    ("followup", "0016_webhook_claims_and_breaker"),
    ("patients", "0009_apiclient_creator_expiry"),
]
MOVED = {"protocol_id", "thresholds_id", "followup_stale_since"}
# The audit triggers, their functions and the hash pgtrigger stores as their comment.
TRIGGERS = """
    SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), p.prosrc,
           obj_description(t.oid, 'pg_trigger')
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE c.relname IN ('patients_surgery', 'followup_surgeryplan') AND NOT t.tgisinternal
    ORDER BY 1, 2
"""


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def query(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def columns(table: str) -> set[str]:
    return {
        name
        for (name,) in query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s", [table]
        )
    }


@pytest.fixture
def at_previous_head():
    """The database as the previous release left it; brought back to the head after."""
    migrate(PREVIOUS)
    try:
        yield
    finally:
        migrate(latest())


def previous_release_data() -> dict[str, int]:
    """A clinic's three surgeries at the previous head: one planned (its plan written by an
    UPDATE, as schedule did, so the surgery's events carry it), one stale, one neither.
    Raw SQL: the current models know neither the columns nor the previous triggers."""
    (clinic,) = query(
        "INSERT INTO patients_clinic (slug, name, timezone, digest_hour,"
        " escalation_after_minutes, escalation_email, created_at)"
        " VALUES ('old', 'Old', 'UTC', 6, 120, '', now()) RETURNING id"
    )[0]
    (patient,) = query(
        "INSERT INTO patients_patient (clinic_id, mrn, family_name, given_name, sex,"
        " transitional_variant, vertebral_numbering, lumbar_vertebrae, created_at, updated_at)"
        " VALUES (%s, 'M-1', 'Old', '', 'unknown', '', '', 5, now(), now()) RETURNING id",
        [clinic],
    )[0]
    planned, stale, neither = (
        query(
            "INSERT INTO patients_surgery (patient_id, clinic_id, performed_at, procedure,"
            " levels, hardware, approach, surgeon, notes, created_at, updated_at) VALUES"
            " (%s, %s, now(), 'tlif', '{L4-L5}', '{}', '', '', '', now(), now()) RETURNING id",
            [patient, clinic],
        )[0][0]
        for _ in range(3)
    )
    (protocol,) = query("SELECT min(id) FROM followup_protocol WHERE family = 'fusion'")[0]
    (thresholds,) = query("SELECT min(id) FROM followup_thresholds")[0]
    query(
        "UPDATE patients_surgery SET protocol_id = %s, thresholds_id = %s WHERE id = %s",
        [protocol, thresholds, planned],
    )
    query(
        "UPDATE patients_surgery SET followup_stale_since = '2026-01-02T03:04:05Z' WHERE id = %s",
        [stale],
    )
    return {
        "planned": planned,
        "stale": stale,
        "neither": neither,
        "protocol": protocol,
        "thresholds": thresholds,
    }


def test_forward_the_plans_carry_the_same_values_and_the_schema_is_a_fresh_ones(
    protocols, at_previous_head
):
    migrate(latest())
    fresh_triggers = query(TRIGGERS)
    fresh_columns = columns("patients_surgery"), columns("patients_surgeryevent")
    migrate(PREVIOUS)
    assert columns("patients_surgery") >= MOVED
    old = previous_release_data()

    migrate(latest())

    plans = {p.pk: p for p in SurgeryPlan.objects.all()}
    assert set(plans) == {old["planned"], old["stale"]}  # no plan: not planned, not stale
    planned, stale = plans[old["planned"]], plans[old["stale"]]
    assert (planned.protocol_id, planned.thresholds_id, planned.stale_since) == (
        old["protocol"],
        old["thresholds"],
        None,
    )
    assert (stale.protocol_id, stale.thresholds_id) == (None, None)
    assert stale.stale_since.isoformat() == "2026-01-02T03:04:05+00:00"
    # The plan's audit history came along: the planning, as an insert of the plan.
    (event,) = SurgeryPlan.pgh_event_model.objects.all()
    assert (event.pgh_label, event.surgery_id, event.protocol_id, event.thresholds_id) == (
        "insert",
        old["planned"],
        old["protocol"],
        old["thresholds"],
    )
    # The same schema and audit triggers as a database migrated from scratch...
    assert (columns("patients_surgery"), columns("patients_surgeryevent")) == fresh_columns
    assert not MOVED & columns("patients_surgery")
    assert query(TRIGGERS) == fresh_triggers
    # ...and they work: a change to the surgery is recorded, a re-plan on the plan.
    surgery_events = Surgery.pgh_event_model.objects.filter(pgh_obj_id=old["neither"])
    before = surgery_events.count()
    Surgery.objects.filter(pk=old["neither"]).update(notes="seen again")
    assert surgery_events.count() == before + 1
    SurgeryPlan.objects.filter(pk=old["planned"]).update(protocol=None)
    assert SurgeryPlan.pgh_event_model.objects.filter(pgh_label="update").count() == 1


def test_backward_the_previous_release_finds_its_columns_and_values(protocols, at_previous_head):
    old = previous_release_data()
    migrate(latest())
    SurgeryPlan.objects.filter(pk=old["stale"]).update(stale_since=None)  # refreshed since

    migrate(PREVIOUS)

    assert columns("patients_surgery") >= MOVED
    assert {"protocol_id", "thresholds_id"} <= columns("patients_surgeryevent")
    assert "followup_surgeryplan" not in connection.introspection.table_names()
    rows = query(
        "SELECT id, protocol_id, thresholds_id, followup_stale_since FROM patients_surgery"
        " ORDER BY id"
    )
    assert rows == [
        (old["planned"], old["protocol"], old["thresholds"], None),
        (old["stale"], None, None, None),
        (old["neither"], None, None, None),
    ]
    # The previous release's audit triggers copy the plan into the surgery's events again.
    query("UPDATE patients_surgery SET notes = 'back' WHERE id = %s", [old["planned"]])
    assert query(
        "SELECT protocol_id, thresholds_id FROM patients_surgeryevent"
        " WHERE pgh_obj_id = %s ORDER BY pgh_id DESC LIMIT 1",
        [old["planned"]],
    ) == [(old["protocol"], old["thresholds"])]
