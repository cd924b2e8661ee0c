"""A patient's follow-up told through the public API, one step at a time.

Each step is a request made at a time of the story (time-machine, never sleeping); the
follow-up then runs in-process as the periodic sweep runs it (it catches up on the
surgeries the step marked stale, then raises the overdue alerts), and the alert
invariants of CLINICAL_RULES §4 are checked. With `worker=True` the refresh is left to
a real Celery worker and the story waits for it; the dates must then be in the past.
"""

import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from datetime import time as clock
from itertools import count
from zoneinfo import ZoneInfo

import time_machine
from django.utils import timezone

from followup.pipeline import sweep
from patients.models import Surgery

from .invariants import assert_alerts_follow_their_causes

PARIS = ZoneInfo("Europe/Paris")
# A Monday, far from the DST changes; the surgery is in the afternoon, so that a film
# dated the surgery day without a time (00:00 local) comes before the surgery's time.
DAY0 = datetime(2025, 1, 6, 14, 0, tzinfo=PARIS)
FUSION_HARDWARE = ("pedicle_screws", "rods", "interbody_cage")
RESOLVED = "resolved"

_serial = count(1)


def on_day(n: int, hour: int = 10, day0: datetime = DAY0) -> datetime:
    """`hour` o'clock (clinic time) on day n after `day0`, counted on the calendar."""
    return datetime.combine(day0.date() + timedelta(days=n), clock(hour), tzinfo=PARIS)


def finding(code: str, value, level: str = "", side: str = "") -> dict:
    return {"code": code, "value": value, "level": level, "side": side}


def wait_for(condition, timeout: float = 60.0):
    """Poll the database while the worker process does its work."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError("the worker did not do the work in time")


class Story:
    def __init__(self, persona, *, worker: bool = False, start: datetime | None = None):
        self.persona = persona
        self.worker = worker
        self.clock = start or DAY0 - timedelta(days=30)
        n = next(_serial)
        self.patient = self.post(
            "/api/v1/patients/",
            {"mrn": f"H-{n:05d}", "family_name": f"History{n}", "given_name": "Pat",
             "birth_date": "1960-05-01", "sex": "female"},
            settle=False,
        )["id"]  # fmt: skip

    # --- the clock ------------------------------------------------------------------------

    def _at(self, at: datetime | None, record_time: datetime | str | None = None) -> datetime:
        """When a step happens: never before the last one, nor before what it records."""
        if at is None:
            at = self.clock
            if isinstance(record_time, datetime):
                at = max(at, record_time + timedelta(hours=1))
            elif isinstance(record_time, str):
                at = max(at, datetime.combine(date.fromisoformat(record_time[:10]),
                                              clock(23, 0), tzinfo=PARIS))  # fmt: skip
        assert at >= self.clock, "a story's steps go forward in time"
        self.clock = at
        return at

    def _travel(self):
        if self.worker:
            return _NoTravel()
        return time_machine.travel(self.clock, tick=False)

    # --- requests -------------------------------------------------------------------------

    def request(self, method: str, path: str, body=None, *, expect=(200, 201), settle=True):
        with self._travel():
            response = getattr(self.persona.api, method)(path, body, format="json")
        expected = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in expected, (method, path, response.content)
        if settle:
            self.settle()
        return response.json() if response.content else None

    def post(self, path: str, body: dict, *, at=None, expect=(200, 201), settle=True):
        self._at(at)
        return self.request("post", path, body, expect=expect, settle=settle)

    def patch(self, path: str, body: dict, *, at=None, expect=200):
        self._at(at)
        return self.request("patch", path, body, expect=expect)

    def get(self, path: str) -> dict:
        with self._travel():
            response = self.persona.api.get(path)
        assert response.status_code == 200, (path, response.content)
        return response.json()

    def get_all(self, path: str) -> list[dict]:
        separator = "&" if "?" in path else "?"
        page = self.get(f"{path}{separator}limit=500")
        assert page["next"] is None, "more rows than one page"
        return page["results"]

    # --- what happens to the patient ------------------------------------------------------

    def surgery(self, performed_at: datetime | str = DAY0, *, procedure: str = "tlif",
                levels: Iterable[str] = ("L4-L5",), hardware: Iterable[str] = FUSION_HARDWARE,
                at=None) -> int:  # fmt: skip
        self._at(at, performed_at)
        when = performed_at if isinstance(performed_at, str) else performed_at.isoformat()
        body = {"patient": self.patient, "performed_at": when, "procedure": procedure,
                "levels": list(levels), "hardware": list(hardware)}  # fmt: skip
        return self.request("post", "/api/v1/surgeries/", body, expect=201)["id"]

    def exam_body(self, performed_at, modality="XR", findings=(), *, accession=None,
                  dose=None, contrast="none", **fields) -> dict:  # fmt: skip
        when = performed_at if isinstance(performed_at, str) else performed_at.isoformat()
        body = {"patient": self.patient, "modality": modality, "contrast": contrast,
                "performed_at": when, "accession_number": accession or f"H-{next(_serial)}",
                "effective_dose_msv": dose, "findings": list(findings), **fields}  # fmt: skip
        return body

    def exam(self, performed_at: datetime | str, modality: str = "XR", findings=(), *,
             at=None, expect=(200, 201), **fields) -> dict:  # fmt: skip
        """POST an exam; `surgery=` only when the test gives it."""
        self._at(at, performed_at)
        body = self.exam_body(performed_at, modality, findings, **fields)
        return self.request("post", "/api/v1/exams/", body, expect=expect)

    def event(self, code: str, occurred_at: datetime | str, *, at=None, **fields) -> dict:
        self._at(at, occurred_at)
        when = occurred_at if isinstance(occurred_at, str) else occurred_at.isoformat()
        body = {"patient": self.patient, "code": code, "occurred_at": when, **fields}
        return self.request("post", "/api/v1/clinical-events/", body, expect=201)

    def assessment(self, assessed_at: datetime, nrs_back: int, *, at=None) -> dict:
        self._at(at, assessed_at)
        body = {"patient": self.patient, "assessed_at": assessed_at.isoformat(),
                "nrs_back": nrs_back}  # fmt: skip
        return self.request("post", "/api/v1/assessments/", body, expect=201)

    def waive(self, checkpoint_id: int, reason: str, *, at=None) -> dict:
        self._at(at)
        return self.request(
            "post", f"/api/v1/checkpoints/{checkpoint_id}/waive/", {"reason": reason}, expect=200
        )

    def wait_until(self, at: datetime) -> None:
        """Time passes: the periodic sweep runs at `at`."""
        self._at(at)
        self.settle()

    def changed_outside_the_api(self) -> None:
        """After an ORM step (the API has no DELETE): the follow-up runs as after any step."""
        self.settle()

    # --- the follow-up runs ---------------------------------------------------------------

    def stale(self) -> bool:
        return Surgery.objects.filter(
            patient_id=self.patient, plan__stale_since__isnull=False
        ).exists()

    def settle(self) -> None:
        if self.worker:
            wait_for(lambda: not self.stale())
            now = timezone.now()
        else:
            now = self.clock
        with self._travel():
            sweep.run(now)
        assert not self.stale(), "a refresh failed: the surgery is still marked stale"
        assert_alerts_follow_their_causes(self.patient, now)

    # --- what the API shows ---------------------------------------------------------------

    def alerts(self, code: str | None = None, *, surgery: int | None = None,
               active: bool = True) -> list[dict]:  # fmt: skip
        query = f"/api/v1/alerts/?patient={self.patient}"
        if code:
            query += f"&code={code}"
        if surgery:
            query += f"&surgery={surgery}"
        rows = self.get_all(query)
        return [r for r in rows if r["status"] != RESOLVED] if active else rows

    def resolved(self, code: str | None = None, *, surgery: int | None = None) -> list[dict]:
        return [
            r for r in self.alerts(code, surgery=surgery, active=False) if r["status"] == RESOLVED
        ]

    def checkpoints(self, surgery: int) -> dict[str, dict]:
        rows = self.get_all(f"/api/v1/checkpoints/?surgery={surgery}")
        return {r["code"]: r for r in rows if r["kind"] != "workup"}

    def workups(self) -> list[dict]:
        rows = self.get_all(f"/api/v1/checkpoints/?patient={self.patient}")
        return [r for r in rows if r["kind"] == "workup"]

    def events(self) -> list[dict]:
        return self.get_all(f"/api/v1/clinical-events/?patient={self.patient}")


class _NoTravel:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def one(rows: list[dict], what: str) -> dict:
    """The single row of `rows`, or a failure that says what was there."""
    shown = [{k: r.get(k) for k in ("id", "code", "surgery", "subject", "status")} for r in rows]
    assert len(rows) == 1, f"expected exactly one {what}, found {len(rows)}: {shown}"
    return rows[0]
