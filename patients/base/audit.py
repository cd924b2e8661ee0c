"""The audit trail, as recorded by django-pghistory's triggers, shown in the admin."""

from django.contrib.auth import get_user_model
from django.db.models import Model
from django.utils.html import format_html_join
from pghistory.admin import EventsAdmin
from pghistory.models import MiddlewareEvents

from patients.models import ApiClient


def actor(context: dict | None, users: dict, clients: dict) -> str:
    context = context or {}
    if user_id := context.get("user"):
        return f"user {users.get(user_id, user_id)}"
    if client_id := context.get("api_client"):
        return f"API client {clients.get(client_id, client_id)}"
    if feed := context.get("feed"):  # a hospital feed writing as its source
        return str(feed)
    return "system"


def actor_of_request(request) -> str:
    """Who a request acts as, in words for a record's "set by": an API client by its name,
    a feed by its own label (`actor_label`: "HL7 source RAD1"), staff by username."""
    user = getattr(request, "user", None)
    if (client := getattr(user, "client", None)) is not None:
        return f"API client {client.name}"
    if label := getattr(user, "actor_label", ""):
        return label
    return f"user {getattr(user, 'username', '') or 'unknown'}"


def trail_for(obj: Model, limit: int = 50) -> list[MiddlewareEvents]:
    """Events of this object and of the rows that point at it (surgeries, exams...)."""
    events = list(MiddlewareEvents.objects.references(obj).order_by("-pgh_created_at")[:limit])
    contexts = [event.pgh_context or {} for event in events]
    users = dict(
        get_user_model()
        .objects.filter(pk__in={c["user"] for c in contexts if c.get("user")})
        .values_list("pk", "username")
    )
    clients = dict(
        ApiClient.objects.filter(
            pk__in={c["api_client"] for c in contexts if c.get("api_client")}
        ).values_list("pk", "name")
    )
    for event in events:
        event.actor = actor(event.pgh_context, users, clients)
    return events


def render_trail(obj: Model) -> str:
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
        (
            (
                f"{event.pgh_created_at:%Y-%m-%d %H:%M:%S}",
                event.pgh_model.split(".")[-1].removesuffix("event"),
                event.pgh_label,
                event.actor,
                event.pgh_diff or event.pgh_data,
            )
            for event in trail_for(obj)
        ),
    )
    return format_html_join(
        "",
        "<table><thead><tr><th>When</th><th>What</th><th>Change</th><th>Who</th>"
        "<th>Values</th></tr></thead><tbody>{}</tbody></table>",
        [(rows,)],
    )


class AuditEventsAdmin(EventsAdmin):
    """Every clinic's events in one list: for superusers only (staff see a record's own
    trail on its page)."""

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)
