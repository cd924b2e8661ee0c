"""Feed monitoring: a hospital source that has gone silent on a working day.

A source silent for HL7_SILENCE_MINUTES of the working hours of a working day
(FEED_WORKING_DAYS, FEED_WORKING_HOURS, in its clinic's time zone) opens a `FeedSilence`
episode, which the clinic's managers see on the worklist and receive by e-mail
(delivery/queueing.py, once per episode). Its next message resolves it: at once in the
HL7 processing path (`heard_from`), and the sweep resolves any open episode whose source
has been heard from since (a message the processing path did not see, an edited source).

Only the working time counts: at 07:00 on a Monday a feed silent since Friday evening is
not late yet; with 120 minutes it is at 09:00. A night or a weekend raises nothing.

Set-based: one query for the clinics' time zones, one UPDATE to resolve, one INSERT
(ON CONFLICT DO NOTHING on the one-open-episode-per-source index) to raise, whatever the
number of sources; two sweeps at once raise an episode once.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone

from followup.models import FeedSilence, Hl7Source


def watch(now: datetime) -> tuple[int, int]:
    """Resolve the episodes of the sources heard from, raise those of the silent ones;
    returns (raised, resolved)."""
    resolved = resolve_heard(now)
    return raise_silent(now), resolved


def resolve_heard(now: datetime) -> int:
    """Open episodes whose source sent a message since the episode's `since`."""
    return FeedSilence.objects.filter(
        resolved_at__isnull=True, source__last_message_at__gt=F("since")
    ).update(resolved_at=now)


def heard_from(source_id: int, now: datetime) -> int:
    """The source just sent a message: its open episode, if any, is over."""
    return FeedSilence.objects.filter(source_id=source_id, resolved_at__isnull=True).update(
        resolved_at=now
    )


def late_zones(now: datetime) -> list[str]:
    """The time zones (of clinics with a source) where a source silent since before
    `now - HL7_SILENCE_MINUTES` is late: a working day, within the working hours, and at
    least that long after the day's start."""
    silence = timedelta(minutes=settings.HL7_SILENCE_MINUTES)
    start, end = settings.FEED_WORKING_HOURS
    zones = set(Hl7Source.objects.values_list("clinic__timezone", flat=True).distinct())
    late = []
    for key in sorted(zones):
        local = timezone.localtime(now, ZoneInfo(key))
        if local.isoweekday() not in settings.FEED_WORKING_DAYS:
            continue
        day_starts = local.replace(hour=start, minute=0, second=0, microsecond=0)
        day_ends = (
            local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(hours=end)
            if end < 24
            else local.replace(hour=23, minute=59, second=59, microsecond=999999)
        )
        if day_starts + silence <= local < day_ends:
            late.append(key)
    return late


def raise_silent(now: datetime) -> int:
    zones = late_zones(now)
    if not zones:
        return 0
    cutoff = now - timedelta(minutes=settings.HL7_SILENCE_MINUTES)
    open_episode = FeedSilence.objects.filter(source=OuterRef("pk"), resolved_at__isnull=True)
    silent = (
        Hl7Source.objects.filter(clinic__timezone__in=zones)
        .annotate(heard=Coalesce("last_message_at", "created_at"))
        .filter(heard__lt=cutoff)
        .exclude(Exists(open_episode))
        .values_list("pk", "clinic_id", "heard")
    )
    episodes = [
        FeedSilence(source_id=pk, clinic_id=clinic_id, since=heard, raised_at=now)
        for pk, clinic_id, heard in silent
    ]
    if not episodes:
        return 0
    # The partial unique index settles a race with another sweep: its episode stays.
    before = FeedSilence.objects.filter(resolved_at__isnull=True).count()
    FeedSilence.objects.bulk_create(episodes, ignore_conflicts=True)
    return FeedSilence.objects.filter(resolved_at__isnull=True).count() - before
