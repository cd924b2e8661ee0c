"""The surgery's follow-up plan (pinned protocol and thresholds, stale mark) moves from
patients_surgery to its own table, so that no patients migration depends on followup.

A database migrated from scratch never had those columns (patients/0002 and 0008 no
longer add them) and this only creates the table. A database from before has them: the
plan rows are copied from them, the plan's audit history from the surgery's events, the
columns are dropped, and the surgery's audit triggers are installed as the migration state
(patients/0001) has them, the same as on a fresh database. Backwards puts the columns,
their values and the previous release's triggers back, as that release expects them."""

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

SURGERY = "patients_surgery"
SURGERY_EVENT = "patients_surgeryevent"
PLAN = "followup_surgeryplan"
PLAN_EVENT = "followup_surgeryplanevent"


# The surgery's audit triggers of the previous release (patients/0008 then), which copied
# protocol_id and thresholds_id into the surgery's events: what backwards puts back.
PREVIOUS_SURGERY_TRIGGERS = [
    pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "patients_surgeryevent" ("approach", "clinic_id", "created_at", "hardware", "id", "levels", "notes", "patient_id", "performed_at", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "procedure", "protocol_id", "surgeon", "thresholds_id", "updated_at") VALUES (NEW."approach", NEW."clinic_id", NEW."created_at", NEW."hardware", NEW."id", NEW."levels", NEW."notes", NEW."patient_id", NEW."performed_at", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."procedure", NEW."protocol_id", NEW."surgeon", NEW."thresholds_id", NEW."updated_at"); RETURN NULL;', hash='aa06b15d9363321219ded38c7710b364901b281c', operation='INSERT', pgid='pgtrigger_insert_insert_ac29f', table='patients_surgery', when='AFTER')),
    pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD."approach" IS DISTINCT FROM (NEW."approach") OR OLD."clinic_id" IS DISTINCT FROM (NEW."clinic_id") OR OLD."created_at" IS DISTINCT FROM (NEW."created_at") OR OLD."hardware" IS DISTINCT FROM (NEW."hardware") OR OLD."id" IS DISTINCT FROM (NEW."id") OR OLD."levels" IS DISTINCT FROM (NEW."levels") OR OLD."notes" IS DISTINCT FROM (NEW."notes") OR OLD."patient_id" IS DISTINCT FROM (NEW."patient_id") OR OLD."performed_at" IS DISTINCT FROM (NEW."performed_at") OR OLD."procedure" IS DISTINCT FROM (NEW."procedure") OR OLD."protocol_id" IS DISTINCT FROM (NEW."protocol_id") OR OLD."surgeon" IS DISTINCT FROM (NEW."surgeon") OR OLD."thresholds_id" IS DISTINCT FROM (NEW."thresholds_id") OR OLD."updated_at" IS DISTINCT FROM (NEW."updated_at"))', func='INSERT INTO "patients_surgeryevent" ("approach", "clinic_id", "created_at", "hardware", "id", "levels", "notes", "patient_id", "performed_at", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "procedure", "protocol_id", "surgeon", "thresholds_id", "updated_at") VALUES (NEW."approach", NEW."clinic_id", NEW."created_at", NEW."hardware", NEW."id", NEW."levels", NEW."notes", NEW."patient_id", NEW."performed_at", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."procedure", NEW."protocol_id", NEW."surgeon", NEW."thresholds_id", NEW."updated_at"); RETURN NULL;', hash='fafae835300f156afd49aa00448620230b784b58', operation='UPDATE', pgid='pgtrigger_update_update_97ea3', table='patients_surgery', when='AFTER')),
    pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "patients_surgeryevent" ("approach", "clinic_id", "created_at", "hardware", "id", "levels", "notes", "patient_id", "performed_at", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "procedure", "protocol_id", "surgeon", "thresholds_id", "updated_at") VALUES (OLD."approach", OLD."clinic_id", OLD."created_at", OLD."hardware", OLD."id", OLD."levels", OLD."notes", OLD."patient_id", OLD."performed_at", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."procedure", OLD."protocol_id", OLD."surgeon", OLD."thresholds_id", OLD."updated_at"); RETURN NULL;', hash='155aaffa37a6ee742d2358483a3368151da518be', operation='DELETE', pgid='pgtrigger_delete_delete_c4fff', table='patients_surgery', when='AFTER')),
]


def _columns(cursor, table: str) -> set[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s",
        [table],
    )
    return {name for (name,) in cursor.fetchall()}


def _surgery_triggers(apps):
    """The surgery's audit triggers as the migration state has them."""
    return apps.get_model("patients", "Surgery")._meta.triggers


# The version in force when the surgery was created: the clinic's newest by then, else
# the shared default's newest by then, else the oldest it could have had (as
# patients/0008 pinned every surgery when the thresholds were introduced).
PIN_THRESHOLDS = f"""
    UPDATE {PLAN} AS plan SET thresholds_id = COALESCE(
        (SELECT t.id FROM followup_thresholds t
          WHERE t.clinic_id = s.clinic_id AND t.created_at <= s.created_at
          ORDER BY t.version DESC LIMIT 1),
        (SELECT t.id FROM followup_thresholds t
          WHERE t.clinic_id IS NULL AND t.created_at <= s.created_at
          ORDER BY t.version DESC LIMIT 1),
        (SELECT t.id FROM followup_thresholds t
          WHERE t.clinic_id = s.clinic_id OR t.clinic_id IS NULL
          ORDER BY t.created_at, t.id LIMIT 1))
    FROM {SURGERY} AS s
    WHERE s.id = plan.surgery_id AND plan.thresholds_id IS NULL
"""


def plans_out_of_surgeries(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        old = _columns(cursor, SURGERY) & {"protocol_id", "thresholds_id", "followup_stale_since"}
        if not old:
            return  # migrated from scratch: the plan never lived on the surgery
        protocol, thresholds, stale = (
            column if column in old else "NULL"
            for column in ("protocol_id", "thresholds_id", "followup_stale_since")
        )
        # Before patients/0008 (no thresholds column) every surgery gets a plan and its pin.
        some = "TRUE" if thresholds == "NULL" else (
            f"{protocol} IS NOT NULL OR {thresholds} IS NOT NULL OR {stale} IS NOT NULL"
        )
        cursor.execute(
            f"INSERT INTO {PLAN} (surgery_id, protocol_id, thresholds_id, stale_since)"
            f" SELECT id, {protocol}, {thresholds}, {stale} FROM {SURGERY} WHERE {some}"
        )
        if thresholds == "NULL":
            cursor.execute(PIN_THRESHOLDS)
        _copy_history(cursor)
        for trigger in _surgery_triggers(apps):
            cursor.execute(trigger.uninstall_sql)  # they name the columns: out first
        cursor.execute(
            f"ALTER TABLE {SURGERY} " + ", ".join(f"DROP COLUMN {c}" for c in sorted(old))
        )
        event_old = _columns(cursor, SURGERY_EVENT) & {"protocol_id", "thresholds_id"}
        if event_old:
            cursor.execute(
                f"ALTER TABLE {SURGERY_EVENT} "
                + ", ".join(f"DROP COLUMN {c}" for c in sorted(event_old))
            )
        for trigger in _surgery_triggers(apps):
            cursor.execute(trigger.install_sql)


def _copy_history(cursor) -> None:
    """Each change of the plan recorded in the surgery's events becomes an event of the
    plan, with its time and context (who re-planned), in the order they happened."""
    event_old = _columns(cursor, SURGERY_EVENT)
    protocol = "protocol_id" if "protocol_id" in event_old else "NULL::bigint"
    thresholds = "thresholds_id" if "thresholds_id" in event_old else "NULL::bigint"
    cursor.execute(f"""
        INSERT INTO {PLAN_EVENT} (pgh_created_at, pgh_label, pgh_context_id, pgh_obj_id,
                                  surgery_id, protocol_id, thresholds_id)
        SELECT pgh_created_at,
               CASE WHEN pgh_label = 'delete' THEN 'delete'
                    WHEN was_protocol IS NULL AND was_thresholds IS NULL THEN 'insert'
                    ELSE 'update' END,
               pgh_context_id, pgh_obj_id, pgh_obj_id, protocol_id, thresholds_id
        FROM (
            SELECT pgh_id, pgh_created_at, pgh_label, pgh_context_id, pgh_obj_id,
                   {protocol} AS protocol_id, {thresholds} AS thresholds_id,
                   LAG({protocol}) OVER mine AS was_protocol,
                   LAG({thresholds}) OVER mine AS was_thresholds
            FROM {SURGERY_EVENT}
            WINDOW mine AS (PARTITION BY pgh_obj_id ORDER BY pgh_id)
        ) AS history
        WHERE (protocol_id IS NOT NULL OR thresholds_id IS NOT NULL)
          AND (pgh_label = 'delete'
               OR (protocol_id, thresholds_id)
                  IS DISTINCT FROM (was_protocol, was_thresholds))
        ORDER BY pgh_id
    """)


def _previous_field(name: str, to, *, event: bool) -> models.Field:
    if name == "followup_stale_since":
        field = models.DateTimeField(null=True, blank=True, editable=False)
    elif event:
        field = models.ForeignKey(
            to, null=True, blank=True, db_constraint=False, on_delete=models.DO_NOTHING,
            editable=False, related_name="+", related_query_name="+",
        )
    else:
        field = models.ForeignKey(
            to, null=True, blank=True, on_delete=models.PROTECT, editable=False, related_name="+"
        )
    field.set_attributes_from_name(name)
    return field


def plans_back_onto_surgeries(apps, schema_editor):
    """The previous release's schema: the columns (with the same constraint and index
    names), their values, the stale index and the previous audit triggers. The surgery's
    events get the plan's values from the plan's events, by time."""
    Surgery = apps.get_model("patients", "Surgery")
    SurgeryEvent = apps.get_model("patients", "SurgeryEvent")
    Protocol = apps.get_model("followup", "Protocol")
    Thresholds = apps.get_model("followup", "Thresholds")
    with schema_editor.connection.cursor() as cursor:
        if "protocol_id" in _columns(cursor, SURGERY):
            return
        for trigger in _surgery_triggers(apps):
            cursor.execute(trigger.uninstall_sql)
    for name, to in [("followup_stale_since", None), ("protocol", Protocol),
                     ("thresholds", Thresholds)]:  # fmt: skip
        field = _previous_field(name, to, event=False)
        field.model = Surgery
        schema_editor.add_field(Surgery, field)
        if to is not None:
            field = _previous_field(name, to, event=True)
            field.model = SurgeryEvent
            schema_editor.add_field(SurgeryEvent, field)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX surgery_stale_idx ON {SURGERY} (followup_stale_since)"
            " WHERE followup_stale_since IS NOT NULL"
        )
        cursor.execute(f"""
            UPDATE {SURGERY} AS s SET protocol_id = plan.protocol_id,
                thresholds_id = plan.thresholds_id, followup_stale_since = plan.stale_since
            FROM {PLAN} AS plan WHERE plan.surgery_id = s.id
        """)
        cursor.execute(f"""
            UPDATE {SURGERY_EVENT} AS e SET protocol_id = was.protocol_id,
                thresholds_id = was.thresholds_id
            FROM (
                SELECT e.pgh_id, p.protocol_id, p.thresholds_id FROM {SURGERY_EVENT} AS e
                CROSS JOIN LATERAL (
                    SELECT protocol_id, thresholds_id FROM {PLAN_EVENT} AS p
                    WHERE p.pgh_obj_id = e.pgh_obj_id AND p.pgh_created_at <= e.pgh_created_at
                    ORDER BY p.pgh_created_at DESC, p.pgh_id DESC LIMIT 1
                ) AS p
            ) AS was
            WHERE was.pgh_id = e.pgh_id
        """)
        for trigger in PREVIOUS_SURGERY_TRIGGERS:
            cursor.execute(trigger.install_sql)


class Migration(migrations.Migration):

    dependencies = [
        ('followup', '0016_webhook_claims_and_breaker'),
        ('patients', '0009_apiclient_creator_expiry'),
        ('pghistory', '0007_auto_20250421_0444'),
    ]

    operations = [
        migrations.CreateModel(
            name='SurgeryPlan',
            fields=[
                ('surgery', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='plan', serialize=False, to='patients.surgery')),
                ('stale_since', models.DateTimeField(blank=True, null=True)),
                ('protocol', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='followup.protocol')),
                ('thresholds', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='followup.thresholds')),
            ],
        ),
        migrations.CreateModel(
            name='SurgeryPlanEvent',
            fields=[
                ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                ('pgh_label', models.TextField(help_text='The event label.')),
                ('pgh_context', models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context')),
                ('pgh_obj', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='events', to='followup.surgeryplan')),
                ('protocol', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='followup.protocol')),
                ('surgery', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', serialize=False, to='patients.surgery')),
                ('thresholds', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='followup.thresholds')),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.AddIndex(
            model_name='surgeryplan',
            index=models.Index(condition=models.Q(('stale_since__isnull', False)), fields=['stale_since'], name='surgeryplan_stale_idx'),
        ),
        migrations.RunPython(plans_out_of_surgeries, plans_back_onto_surgeries),
        # After the copy: the plans and history copied are not new events.
        pgtrigger.migrations.AddTrigger(
            model_name='surgeryplan',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (NEW."protocol_id" IS NOT NULL OR NEW."thresholds_id" IS NOT NULL)', func='INSERT INTO "followup_surgeryplanevent" ("pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "protocol_id", "surgery_id", "thresholds_id") VALUES (_pgh_attach_context(), NOW(), \'insert\', NEW."surgery_id", NEW."protocol_id", NEW."surgery_id", NEW."thresholds_id"); RETURN NULL;', hash='9ae8df3cb526070bf39a20b7f869752863702268', operation='INSERT', pgid='pgtrigger_insert_insert_dde85', table='followup_surgeryplan', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='surgeryplan',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD."protocol_id" IS DISTINCT FROM (NEW."protocol_id") OR OLD."surgery_id" IS DISTINCT FROM (NEW."surgery_id") OR OLD."thresholds_id" IS DISTINCT FROM (NEW."thresholds_id"))', func='INSERT INTO "followup_surgeryplanevent" ("pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "protocol_id", "surgery_id", "thresholds_id") VALUES (_pgh_attach_context(), NOW(), \'update\', NEW."surgery_id", NEW."protocol_id", NEW."surgery_id", NEW."thresholds_id"); RETURN NULL;', hash='08fda9b40f77e10bd2a646504fba7f8568f5ebab', operation='UPDATE', pgid='pgtrigger_update_update_6e4bc', table='followup_surgeryplan', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='surgeryplan',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD."protocol_id" IS NOT NULL OR OLD."thresholds_id" IS NOT NULL)', func='INSERT INTO "followup_surgeryplanevent" ("pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "protocol_id", "surgery_id", "thresholds_id") VALUES (_pgh_attach_context(), NOW(), \'delete\', OLD."surgery_id", OLD."protocol_id", OLD."surgery_id", OLD."thresholds_id"); RETURN NULL;', hash='d3779c1357e67d6cd66771acfe45b28948d1b476', operation='DELETE', pgid='pgtrigger_delete_delete_8c8f9', table='followup_surgeryplan', when='AFTER')),
        ),
    ]
