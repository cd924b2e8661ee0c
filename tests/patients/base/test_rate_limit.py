"""Each client has its own rate: past it, 429 with Retry-After; Redis down lets requests in."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import override_settings

from patients.base.api.throttling import ClientRateThrottle
from patients.models import ApiClient, ApiRequest

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def slow_down(persona, per_minute: int):
    persona.client.rate_limit_per_minute = per_minute
    persona.client.save(update_fields=["rate_limit_per_minute"])


def test_past_its_rate_a_client_gets_429_with_retry_after(integration_a, integration_b, clock):
    slow_down(integration_a, 3)
    answers = [integration_a.api.get("/api/v1/patients/") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 0 < int(answers[3].headers["Retry-After"]) <= 60
    assert integration_a.api.post("/api/v1/patients/", {}, format="json").status_code == 429
    assert integration_b.api.get("/api/v1/patients/").status_code == 200  # its own rate
    assert ApiRequest.objects.filter(client=integration_a.client, status=429).count() == 2

    clock.shift(timedelta(seconds=61))
    assert integration_a.api.get("/api/v1/patients/").status_code == 200


def test_a_raised_rate_applies_at_once(integration_a, clock):
    slow_down(integration_a, 1)
    integration_a.api.get("/api/v1/patients/")
    assert integration_a.api.get("/api/v1/patients/").status_code == 429

    slow_down(integration_a, 100)

    assert integration_a.api.get("/api/v1/patients/").status_code == 200


UNREACHABLE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
    }
}


def test_with_redis_down_requests_are_let_through(integration_a):
    slow_down(integration_a, 1)

    with override_settings(CACHES=UNREACHABLE):
        answers = [integration_a.api.get("/api/v1/patients/") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]


def test_concurrent_requests_of_a_client_are_each_counted_once():
    # One atomic INCR per request in Redis: 8 threads counting at once lose no count and
    # repeat none (a read-then-write counter loses some under this race).
    client = ApiClient(pk=10**9, token_hash=uuid.uuid4().hex)
    start = int(time.time())
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: ClientRateThrottle._count(client, start), range(400)))

    assert sorted(counts) == list(range(1, 401))
