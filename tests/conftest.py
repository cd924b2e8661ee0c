"""Personas shared by every test: staff of clinic A and B, A's integration, an outsider."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from patients.models import ApiClient, Clinic, Membership, Role, Scope
from tests import factories


@dataclass
class Persona:
    api: APIClient
    clinic: Clinic | None
    user: object | None = None
    client: ApiClient | None = None


def persona_with(clinic, name: str, scopes: list[str] | None = None) -> Persona:
    """Another integration client of `clinic`, with its own token and scopes."""
    client, token = ApiClient.issue(clinic, name, scopes)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return Persona(api=api, clinic=clinic, client=client)


@pytest.fixture
def clinic_a(db) -> Clinic:
    return Clinic.objects.create(slug="clinic-a", name="Clinic A", timezone="Europe/Paris")


@pytest.fixture
def clinic_b(db) -> Clinic:
    return Clinic.objects.create(slug="clinic-b", name="Clinic B", timezone="America/Los_Angeles")


def make_staff(username: str, clinic: Clinic, role: str = Role.CLINICIAN):
    user = get_user_model().objects.create_user(
        username=username, password="a-long-test-password", is_staff=True
    )
    Membership.objects.create(user=user, clinic=clinic, role=role)
    return user


def _session_persona(user, clinic) -> Persona:
    api = APIClient()
    api.force_login(user)
    return Persona(api=api, clinic=clinic, user=user)


@pytest.fixture
def staff_a(clinic_a) -> Persona:
    return _session_persona(make_staff("alice", clinic_a), clinic_a)


@pytest.fixture
def staff_b(clinic_b) -> Persona:
    return _session_persona(make_staff("bob", clinic_b), clinic_b)


@pytest.fixture
def viewer_a(clinic_a) -> Persona:
    return _session_persona(make_staff("vera", clinic_a, Role.VIEWER), clinic_a)


@pytest.fixture
def integration_a(clinic_a) -> Persona:
    return persona_with(clinic_a, "EHR of A")


@pytest.fixture
def integration_b(clinic_b) -> Persona:
    return persona_with(clinic_b, "EHR of B")


@pytest.fixture
def anonymous(db) -> Persona:
    return Persona(api=APIClient(), clinic=None)


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """One real worker for the whole session, started on first use."""
    from tests.worker import Worker

    worker = Worker()
    with django_db_blocker.unblock():
        worker.start()
    yield worker
    worker.stop()


@pytest.fixture(autouse=True)
def nudges_reach_the_worker_only_when_asked(request):
    """Once the session's worker runs, every commit's nudge would reach it: a refresh of
    another test's data racing that test's teardown (a TRUNCATE, which then deadlocks).
    Tests that do not ask for the worker send their nudges to a queue nobody reads."""
    if "celery_worker_process" in request.fixturenames:
        # Requested here so that this fixture's teardown runs before the database's: the
        # worker has finished what the test queued before the tables are emptied.
        request.getfixturevalue("transactional_db")
        worker = request.getfixturevalue("celery_worker_process")
        yield
        worker.drain()
        return
    from followup.celery import app

    kept = app.conf.task_default_queue
    app.conf.task_default_queue = "test-nobody-reads"
    yield
    app.conf.task_default_queue = kept


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Argon2 takes a third of a second per password, by design; tests make many users.
    (tests/hardening checks that the settings put Argon2 first.)"""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def operated(clinic_a):
    """A patient of clinic A operated 90 days ago."""
    patient = factories.patient(clinic_a)
    factories.surgery(patient, timezone.now() - timedelta(days=90))
    return patient


@pytest.fixture
def hooks_a(clinic_a) -> Persona:
    """Clinic A's integration allowed to manage webhooks."""
    return persona_with(clinic_a, "Hooks of A", [Scope.READ, Scope.WRITE, Scope.WEBHOOKS])
