"""The one outbox every channel delivers through (e-mail, webhooks; FHIR subscriptions
next): claims that name their run, one retry schedule, batches, a run's time budget.

A channel says three things: what to claim (a queryset of its rows that are due, in
order: an e-mail, a webhook receiver), how to send one (outside any transaction, no row
locked), and what to record (an UPDATE through its `Claims`, which only the run that
holds the claim can make). The outbox does the rest, the same way for every channel:

- `Claims`: a run claims rows under its own token (`new_run`), written on each row with
  the time (`claimed_by`, `claimed_at`), committed before anything is sent: a batch with
  `SELECT ... FOR UPDATE SKIP LOCKED` (`batch`), or one row with a conditional UPDATE
  (`one`). Every mark goes through `held`: a run that outlived its lease and lost the row
  to the next run can no longer mark it. A claim older than the lease belongs to a run
  that died (`expired`, `unclaimed`);
- `Retry`: one schedule for failures, doubling from a first wait up to a cap; with a
  `Breaker`, at least its cool-down once the circuit is open; optionally given up after
  a time;
- `Budget`: what is left of a run's time;
- `BATCH`: how many rows (or events) a run takes at once.

Which guarantee a channel gives rests on when it marks: both mark after the receiver
accepted, so a message is never lost and goes twice only if the run dies between the
acceptance and the mark (docs/reliability.md).
"""

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q

BATCH = 50  # rows claimed at once (e-mails), events read at once (a webhook receiver's)


def new_run() -> str:
    """The token that says which run holds a claim: only that run may mark the row."""
    return secrets.token_hex(16)


class Claims:
    """How one channel's rows are claimed. Its model has `claimed_by` (a run's token, ""
    when free) and `claimed_at`; `state` is what a claimed row also is (an e-mail's
    status `sending`), and `lease` how long a claim holds before it is a dead run's."""

    def __init__(self, model: type[models.Model], lease: timedelta, **state) -> None:
        self.model, self.lease, self.state = model, lease, state

    def batch(
        self, due: models.QuerySet, run: str, now: datetime, size: int = BATCH, **also
    ) -> list:
        """Claim up to `size` of the due rows for `run` (rows another run is claiming are
        skipped, not waited for); `also` is what the claim changes besides (an attempt
        counted). Committed on return."""
        with transaction.atomic():
            rows = list(due.select_for_update(skip_locked=True)[:size])
            self.model._default_manager.filter(pk__in=[row.pk for row in rows]).update(
                **self.state, claimed_at=now, claimed_by=run, **also
            )
        for row in rows:
            row.claimed_at, row.claimed_by = now, run
        return rows

    def one(self, claimable: models.QuerySet, run: str, at: datetime) -> bool:
        """Claim the row of `claimable` (filtered to one) for `run`, if it still is.

        Being unclaimed is a condition on the UPDATE's own row, not only inside
        `claimable`: a `claimable` that joins another table (an endpoint's API client)
        is turned into a sub-select, and when two runs race for the row PostgreSQL
        re-checks, after the first commits, only the updated row's own conditions
        (READ COMMITTED): both runs would have claimed it."""
        rows = self.model._default_manager.filter(self.unclaimed(at), pk__in=claimable.values("pk"))
        return rows.update(**self.state, claimed_by=run, claimed_at=at) == 1

    def unclaimed(self, now: datetime) -> Q:
        """Rows no run holds: free, or held by a run that died."""
        return Q(claimed_by="") | Q(claimed_at__lt=now - self.lease)

    def expired(self, now: datetime) -> models.QuerySet:
        """Claimed rows whose claim is older than the lease: their run died, or is slower
        than any run may be."""
        return self.model._default_manager.filter(**self.state, claimed_at__lt=now - self.lease)

    def held(self, row: models.Model) -> models.QuerySet:
        """The row, while the claim it carries (its `claimed_by`) is still on it."""
        return self.model._default_manager.filter(
            pk=row.pk, claimed_by=row.claimed_by, **self.state
        )

    def mark(self, row: models.Model, **changes) -> bool:
        """Record on the row (sent, failed, skipped...) if the claim is still its run's."""
        return self.held(row).update(**changes) == 1

    def renew(self, row: models.Model, at: datetime) -> bool:
        """The claim's time moved to `at`, if it is still the run's (before a send)."""
        renewed = self.mark(row, claimed_at=at)
        row.claimed_at = at
        return renewed

    def release(self, row: models.Model) -> None:
        self.held(row).update(claimed_by="")


@dataclass(frozen=True)
class Breaker:
    """A circuit breaker: after `threshold` failures in a row the circuit is open, and the
    next trial waits at least the cool-down. Both are read from the settings named here
    at each use."""

    threshold_setting: str
    cooldown_setting: str

    @property
    def threshold(self) -> int:
        return getattr(settings, self.threshold_setting)

    @property
    def cooldown(self) -> timedelta:
        return getattr(settings, self.cooldown_setting)

    def is_open(self, failures: int) -> bool:
        return failures >= self.threshold


_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Retry:
    """One schedule for failures: the wait after `failures` failed attempts in a row
    doubles from `first` up to `cap`; with a breaker, at least its cool-down once open;
    with `give_up_after`, a message failing that long is given up."""

    first: timedelta
    cap: timedelta
    breaker: Breaker | None = None
    give_up_after: timedelta | None = None

    def wait(self, failures: int) -> timedelta:
        # In whole microseconds: no overflow, however many attempts a row has had.
        doubled = (self.first // _TICK) * 2 ** max(failures - 1, 0)
        wait = timedelta(microseconds=min(doubled, self.cap // _TICK))
        if self.breaker is not None and self.breaker.is_open(failures):
            wait = max(wait, self.breaker.cooldown)
        return wait

    def gives_up(self, failing_since: datetime | None, now: datetime) -> bool:
        return (
            self.give_up_after is not None
            and failing_since is not None
            and now - failing_since >= self.give_up_after
        )


class Budget:
    """What is left of one run's time (monotonic, so that a frozen test clock does not
    stop it); one more send is allowed while `reserve` seconds (one send's deadline) are."""

    def __init__(self, seconds: float, reserve: float) -> None:
        self.ends = time.monotonic() + seconds
        self.reserve = reserve

    def allows_one_more(self) -> bool:
        return self.ends - time.monotonic() >= self.reserve
