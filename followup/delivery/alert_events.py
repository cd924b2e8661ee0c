"""The alerts' own history (pghistory's AlertEvent) as the outbox of the channels that
walk it with a cursor (webhooks, FHIR subscriptions): how far a cursor may go."""

from django.db import connection, transaction

from followup.models.alerts import AlertEvent


def settled_event_id() -> int:
    """The highest event id no transaction still running can commit an event below.

    Ids are taken at insert time, so a slow transaction may commit an event below one
    already sent, and a cursor past it would skip it for good. A SHARE lock waits for
    the transactions writing events (blocking new ones only meanwhile), then is released.
    """
    table = connection.ops.quote_name(AlertEvent._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
        cursor.execute(f"SELECT coalesce(max(pgh_id), 0) FROM {table}")
        return cursor.fetchone()[0]
