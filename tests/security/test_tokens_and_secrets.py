"""The integration's keys: bearer tokens and webhook signing secrets.

Only a clinic's managers (and superusers) mint, rotate and revoke tokens and see or rotate
webhook secrets. A new token or secret is the body of the answer to the POST that made it,
shown that once: never in a cookie (Django's messages cookie is signed, not encrypted:
anyone holding it reads it), never on a later page. Tokens record their creator, may
expire, rotate with an overlap, and record their last use at most once a minute; revoking
a client disables the webhooks it registered.
"""

import re
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.management import call_command
from django.db import connection
from django.http import HttpRequest
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from followup.models import WebhookEndpoint
from patients.models import ApiClient, Role
from tests.conftest import make_staff

from .conftest import integration

CLIENTS = "/admin/patients/apiclient/"
WEBHOOKS = "/admin/followup/webhookendpoint/"
RECEIVER = "http://127.0.0.1:9/hook"  # loopback, never listened on: nothing is delivered here
T0 = timezone.make_aware(timezone.datetime(2026, 3, 2, 9, 0))


@pytest.fixture(autouse=True)
def loopback_receivers(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture
def manager(clinic_a):
    return make_staff("max", clinic_a, Role.MANAGER)


@pytest.fixture
def clinician(clinic_a):
    return make_staff("clara", clinic_a, Role.CLINICIAN)


@pytest.fixture
def viewer(clinic_a):
    return make_staff("vic", clinic_a, Role.VIEWER)


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def status(token: str) -> int:
    return bearer(token).get("/api/v1/patients/").status_code


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def shown(response) -> list[str]:
    """The keys the show-once page shows."""
    return re.findall(r'<code class="secret">([^<]+)</code>', response.content.decode())


def cookie_texts(*responses) -> list[str]:
    """Every cookie the responses set, raw, and the messages cookie decoded."""
    texts = []
    for response in responses:
        for morsel in response.cookies.values():
            texts.append(morsel.OutputString())
            if morsel.key == "messages" and morsel.value:
                decoded = CookieStorage(HttpRequest())._decode(morsel.value) or []
                texts += [str(message) for message in decoded]
    return texts


def never_again(user, secret: str, *urls: str) -> None:
    """No later page shows the key; the browser holds it in no cookie."""
    client = browser(user)
    for url in urls:
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        assert secret not in response.content.decode(), url
        assert not any(secret in text for text in cookie_texts(response)), url


def add_client(user, name="EHR", clinic=None, **fields):
    data = {
        "clinic": (clinic or user.memberships.get().clinic).pk,
        "name": name,
        "scopes": ["read", "write"],
        "expires_at_0": "",
        "expires_at_1": "",
        "rate_limit_per_minute": 600,
        **fields,
    }
    return browser(user).post(f"{CLIENTS}add/", data)


def act(user, url: str, action: str, *objects, **extra):
    data = {"action": action, "_selected_action": [o.pk for o in objects], **extra}
    return browser(user).post(url, data)


# --- minting ------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_on_the_answer_never_in_a_cookie(manager, clinic_a):
    response = add_client(manager)

    assert response.status_code == 200
    [token] = shown(response)
    client = ApiClient.objects.get(clinic=clinic_a, name="EHR")
    assert ApiClient.authenticate(token) == client
    assert client.created_by == manager
    assert client.scopes == ["read", "write"]
    assert "no-store" in response["Cache-Control"]
    assert not any(token in text for text in cookie_texts(response))
    never_again(manager, token, CLIENTS, f"{CLIENTS}{client.pk}/change/",
                f"{CLIENTS}{client.pk}/history/", "/admin/")  # fmt: skip


@pytest.mark.parametrize("role", [Role.VIEWER, Role.CLINICIAN])
def test_only_a_manager_mints_a_token(role, clinic_a):
    user = make_staff(f"someone-{role}", clinic_a, role)

    assert browser(user).get(f"{CLIENTS}add/").status_code == 403
    assert add_client(user).status_code == 403
    assert not ApiClient.objects.exists()


def test_a_manager_mints_only_for_the_clinics_they_manage(manager, clinic_b):
    response = add_client(manager, clinic=clinic_b)

    assert not shown(response)
    assert not ApiClient.objects.filter(clinic=clinic_b).exists()


def test_a_manager_of_one_clinic_revokes_nothing_in_another(manager, integration_b):
    act(manager, CLIENTS, "revoke", integration_b.client)

    integration_b.client.refresh_from_db()
    assert integration_b.client.revoked_at is None


def test_a_command_records_no_creator_unless_told(clinic_a, manager):
    run("create_api_client", "clinic-a", "Script")
    run("create_api_client", "clinic-a", "For Max", "--created-by", "max", "--scopes", "webhooks")

    assert ApiClient.objects.get(name="Script").created_by is None
    for_max = ApiClient.objects.get(name="For Max")
    assert (for_max.created_by, for_max.scopes) == (manager, ["webhooks"])


# --- expiry -------------------------------------------------------------------------------


def test_an_expired_token_answers_401(clinic_a):
    with time_machine.travel(T0, tick=False) as clock:
        _, token = ApiClient.issue(clinic_a, "Temp", expires_at=T0 + timedelta(hours=1))
        assert status(token) == 200
        clock.shift(timedelta(minutes=59))
        assert status(token) == 200
        clock.shift(timedelta(minutes=1))
        assert status(token) == 401


def test_create_api_client_can_make_a_token_that_expires(clinic_a):
    with time_machine.travel(T0, tick=False) as clock:
        token = run("create_api_client", "clinic-a", "Temp", "--expires-in-days", "2")
        token = token.splitlines()[-1]
        assert status(token) == 200
        clock.shift(timedelta(days=2))
        assert status(token) == 401


# --- rotation -----------------------------------------------------------------------------


def test_rotate_api_client_keeps_the_old_token_for_the_overlap(clinic_a):
    with time_machine.travel(T0, tick=False) as clock:
        old = run("create_api_client", "clinic-a", "EHR").splitlines()[-1]
        new = run("rotate_api_client", "clinic-a", "EHR", "--overlap-hours", "2").splitlines()[-1]

        assert new != old
        assert (status(old), status(new)) == (200, 200)
        clock.shift(timedelta(hours=2) - timedelta(seconds=1))
        assert (status(old), status(new)) == (200, 200)
        clock.shift(timedelta(seconds=1))
        assert (status(old), status(new)) == (401, 200)


def test_rotate_api_client_refuses_a_revoked_client(clinic_a):
    run("create_api_client", "clinic-a", "EHR")
    run("revoke_api_client", "clinic-a", "EHR")
    with pytest.raises(Exception, match="revoked"):
        run("rotate_api_client", "clinic-a", "EHR")


def test_a_manager_rotates_in_the_admin_with_an_overlap(manager, clinic_a):
    with time_machine.travel(T0, tick=False) as clock:
        client, old = ApiClient.issue(clinic_a, "EHR")

        asked = act(manager, CLIENTS, "rotate_tokens", client)
        assert asked.status_code == 200 and 'name="overlap_hours"' in asked.content.decode()
        assert ApiClient.objects.get(pk=client.pk).token_hash == client.token_hash  # not yet

        answer = act(manager, CLIENTS, "rotate_tokens", client, post="yes", overlap_hours="3")
        [new] = shown(answer)
        assert "no-store" in answer["Cache-Control"]
        assert not any(new in text for text in cookie_texts(asked, answer))
        assert (status(old), status(new)) == (200, 200)
        clock.shift(timedelta(hours=3))
        assert (status(old), status(new)) == (401, 200)
    never_again(manager, new, CLIENTS, f"{CLIENTS}{client.pk}/change/")


# --- last use -----------------------------------------------------------------------------


def client_updates(run_request) -> int:
    """UPDATEs of the clients' table by one request, its after-commit work included."""
    with (
        CaptureQueriesContext(connection) as queries,
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        run_request()
    return sum(q["sql"].startswith('UPDATE "patients_apiclient"') for q in queries)


def test_last_used_at_is_written_at_most_once_a_minute(integration_a):
    def request():
        assert integration_a.api.get("/api/v1/patients/").status_code == 200

    with time_machine.travel(T0, tick=False) as clock:
        assert client_updates(request) == 1
        assert client_updates(request) == 0
        clock.shift(timedelta(seconds=59))
        assert client_updates(request) == 0
        integration_a.client.refresh_from_db()
        assert integration_a.client.last_used_at == T0
        clock.shift(timedelta(seconds=2))
        assert client_updates(request) == 1
        integration_a.client.refresh_from_db()
        assert integration_a.client.last_used_at == T0 + timedelta(seconds=61)


def test_two_workers_touching_at_once_write_once(integration_a):
    first = ApiClient.objects.get(pk=integration_a.client.pk)
    second = ApiClient.objects.get(pk=integration_a.client.pk)
    now = timezone.now()

    assert first.touch(now) is True
    assert second.touch(now) is False  # the conditional UPDATE found the row fresh


# --- revoking -----------------------------------------------------------------------------


@pytest.fixture
def webhooks_of_a(clinic_a):
    """One receiver registered through the API by each of two clients, one in the admin."""
    registered = {}
    for name in ("EHR", "Other"):
        persona = integration(clinic_a, name)
        response = persona.api.post("/api/v1/webhooks/", {"url": RECEIVER}, format="json")
        assert response.status_code == 201, response.content
        registered[name] = WebhookEndpoint.objects.get(pk=response.json()["id"])
    registered["admin"] = WebhookEndpoint.objects.create(clinic=clinic_a, url=RECEIVER)
    return registered


def active(endpoints: dict) -> dict:
    return {name: WebhookEndpoint.objects.get(pk=e.pk).active for name, e in endpoints.items()}


def test_revoking_in_the_admin_disables_the_clients_webhooks(manager, webhooks_of_a):
    ehr = ApiClient.objects.get(name="EHR")

    act(manager, CLIENTS, "revoke", ehr)

    assert active(webhooks_of_a) == {"EHR": False, "Other": True, "admin": True}


def test_revoke_api_client_disables_the_clients_webhooks(webhooks_of_a):
    run("revoke_api_client", "clinic-a", "EHR")

    assert active(webhooks_of_a) == {"EHR": False, "Other": True, "admin": True}


# --- webhook secrets ----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VIEWER, Role.CLINICIAN, Role.MANAGER])
def test_no_page_shows_a_webhook_secret(role, clinic_a):
    user = make_staff(f"someone-{role}", clinic_a, role)
    endpoint = WebhookEndpoint.objects.create(clinic=clinic_a, url=RECEIVER)

    never_again(user, endpoint.secret, WEBHOOKS, f"{WEBHOOKS}{endpoint.pk}/change/")


def test_the_api_shows_the_secret_only_at_registration(clinic_a):
    persona = integration(clinic_a, "EHR")
    created = persona.api.post("/api/v1/webhooks/", {"url": RECEIVER}, format="json").json()
    secret = created["secret"]

    for url in ("/api/v1/webhooks/", f"/api/v1/webhooks/{created['id']}/"):
        assert secret not in persona.api.get(url).content.decode()


def add_webhook(user, clinic):
    data = {
        "clinic": clinic.pk,
        "url": RECEIVER,
        "active": "on",
        **{f"log-{k}": v for k, v in
           {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0, "MIN_NUM_FORMS": 0, "MAX_NUM_FORMS": 0}.items()},
    }  # fmt: skip
    return browser(user).post(f"{WEBHOOKS}add/", data)


def test_a_new_webhook_secret_is_shown_once_to_its_manager(manager, clinic_a):
    response = add_webhook(manager, clinic_a)

    assert response.status_code == 200, response.content
    [secret] = shown(response)
    endpoint = WebhookEndpoint.objects.get(clinic=clinic_a)
    assert endpoint.secret == secret
    assert "no-store" in response["Cache-Control"]
    assert not any(secret in text for text in cookie_texts(response))
    never_again(manager, secret, WEBHOOKS, f"{WEBHOOKS}{endpoint.pk}/change/")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.CLINICIAN])
def test_only_a_manager_adds_a_webhook_in_the_admin(role, clinic_a):
    user = make_staff(f"someone-{role}", clinic_a, role)

    assert add_webhook(user, clinic_a).status_code == 403
    assert not WebhookEndpoint.objects.exists()


def test_a_manager_rotates_a_webhook_secret_shown_once(manager, clinic_a):
    endpoint = WebhookEndpoint.objects.create(clinic=clinic_a, url=RECEIVER)

    asked = act(manager, WEBHOOKS, "rotate_secrets", endpoint)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret  # not yet
    answer = act(manager, WEBHOOKS, "rotate_secrets", endpoint, post="yes")

    [secret] = shown(answer)
    assert secret != endpoint.secret
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == secret
    assert not any(secret in text for text in cookie_texts(asked, answer))
    never_again(manager, secret, WEBHOOKS, f"{WEBHOOKS}{endpoint.pk}/change/")
