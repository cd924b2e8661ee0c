"""The digest figure of `manage.py bench`: every clinic's digest built and sent to an SMTP
server on loopback, beside the floor (one SELECT of each digest's rows, the messages sent
over one connection, one INSERT of the Email rows)."""

import smtplib
from email.message import EmailMessage

from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import override_settings

from followup.delivery import mailing
from followup.models import Alert, AlertStatus, Subscription
from patients.models import Clinic, Membership

from . import bench_measure as measure


def measure_figure(bench) -> None:
    runs, floors, sent, floor_sent, alerts = [], [], 0, 0, 0
    with measure.SmtpSink() as smtp, override_settings(MAILERS=smtp.mailers):
        for _ in range(bench.repeat):
            with measure.rolled_back():
                alerts = _setup(bench)
                seconds, sent = measure.timed(
                    lambda: (mailing.queue_digests(bench.now), mailing.deliver(bench.now))[1]
                )
                runs.append(seconds)
            with measure.rolled_back():
                _setup(bench)
                seconds, floor_sent = measure.timed(lambda: _floor(bench, smtp.port))
                floors.append(seconds)
    bench.results["digest"] = measure.figure(
        "s", runs, floors, clinics=len(bench.clinics), open_alerts=alerts, emails=sent,
        floor_emails=floor_sent,
    )  # fmt: skip


def _setup(bench) -> int:
    """One subscriber per clinic, every digest hour come, and enough open alerts."""
    Clinic.objects.filter(pk__in=[c.pk for c in bench.clinics]).update(digest_hour=0)
    User = get_user_model()
    users = User.objects.bulk_create(
        User(username=f"bench-digest-{c.pk}", email=f"digest-{c.pk}@bench.invalid",
             password="!", is_staff=True)
        for c in bench.clinics
    )  # fmt: skip
    Membership.objects.bulk_create(
        Membership(user=u, clinic=c) for u, c in zip(users, bench.clinics, strict=True)
    )
    Subscription.objects.bulk_create(
        Subscription(user=u, clinic=c, digest=True, urgent=False)
        for u, c in zip(users, bench.clinics, strict=True)
    )
    open_alerts = Alert.objects.exclude(status=AlertStatus.RESOLVED).count()
    if open_alerts < bench.digest_alerts:
        lacking = bench.digest_alerts - open_alerts
        clinics = [c.pk for c in bench.clinics]
        params = {"clinics": clinics, "now": bench.now, "count": lacking}
        measure.execute(measure.ADD_ALERTS, params)
    return max(open_alerts, bench.digest_alerts)


def _floor(bench, port: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(measure.DIGEST_FLOOR_READ)
        digests = cursor.fetchall()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for _clinic, _user, email, slug, alerts, overdue in digests:
            message = EmailMessage()
            message["Subject"] = f"[{slug}] Follow-up digest {bench.today}"
            message["From"], message["To"] = "followup@localhost", email
            message.set_content(f"{alerts or ''}\n\n{overdue or ''}")
            smtp.send_message(message)
    measure.execute(measure.DIGEST_FLOOR_RECORD, {"day": bench.today, "now": bench.now})
    return len(digests)
