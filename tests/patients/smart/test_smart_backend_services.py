"""SMART Backend Services, as a backend client built from PyJWT drives it: discovery, a
token for a signed assertion, the token on FHIR and the REST API; and every way an
assertion or a token must be refused."""

from datetime import timedelta

import jwt
import pytest
import requests
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from patients.models import ApiClient, SeenJwt, SmartAccessToken, SmartClient
from tests import factories

from .keys import KeyPair, claims

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def token_url() -> str:
    return f"{settings.SITE_URL}/auth/token"


def ask_token(client: SmartClient, assertion: str, scope: str = "system/*.rs") -> dict:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        "scope": scope,
    }
    response = Client().post("/auth/token", form)
    return {"status": response.status_code, **response.json()}


def signed(smart: SmartClient, key: KeyPair, **overrides) -> str:
    return key.sign(claims(smart.client_id, token_url(), **overrides))


def bearer(token: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {token}"})


# --- discovery ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/.well-known/smart-configuration",
                                  "/fhir/r4/.well-known/smart-configuration"])  # fmt: skip
def test_discovery_names_the_token_endpoint_and_what_it_takes(db, path):
    document = Client().get(path).json()
    assert document["token_endpoint"] == token_url()
    assert document["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert document["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert document["grant_types_supported"] == ["client_credentials"]
    assert "client-confidential-asymmetric" in document["capabilities"]
    assert "system/*.rs" in document["scopes_supported"]


# --- a real client over HTTP ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_backend_client_gets_a_token_over_http_and_reads_fhir_and_the_api(
    live_server, clinic_a, rsa_key, settings
):
    settings.SITE_URL = live_server.url
    smart = SmartClient.register(clinic_a, "Backend", rsa_key.jwks())
    patient = factories.patient(clinic_a, mrn="H-42")
    config = requests.get(f"{live_server.url}/fhir/r4/.well-known/smart-configuration").json()
    assertion = jwt.encode(
        claims(smart.client_id, config["token_endpoint"]),
        rsa_key.private,
        algorithm="RS384",
        headers={"kid": rsa_key.kid},
    )
    answer = requests.post(
        config["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "scope": "system/Patient.rs system/Observation.rs system/*.rs",
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 300
    assert "system/*.rs" in body["scope"].split()
    headers = {"Authorization": f"Bearer {body['access_token']}"}

    found = requests.get(
        f"{live_server.url}/fhir/r4/Patient", params={"identifier": "H-42"}, headers=headers
    ).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [str(patient.pk)]
    listed = requests.get(f"{live_server.url}/api/v1/patients/", headers=headers).json()
    assert [row["id"] for row in listed["results"]] == [patient.pk]
    # Stored hashed: the token itself is nowhere in the table.
    assert not SmartAccessToken.objects.filter(token_hash=body["access_token"]).exists()


# --- the grant --------------------------------------------------------------------------


def test_an_es384_assertion_gets_a_token(smart_a, ec_key):
    answer = ask_token(smart_a, signed(smart_a, ec_key))
    assert answer["status"] == 200 and answer["scope"] == "system/*.rs"


def test_v1_scopes_are_accepted_and_answered_in_v2(smart_a, rsa_key):
    answer = ask_token(smart_a, signed(smart_a, rsa_key), "system/Patient.read system/*.read")
    assert answer["status"] == 200
    assert answer["scope"].split() == ["system/*.rs", "system/Patient.rs"]


def test_a_patient_only_token_reads_patients_and_nothing_else(smart_a, rsa_key, clinic_a):
    patient = factories.patient(clinic_a)
    token = ask_token(smart_a, signed(smart_a, rsa_key), "system/Patient.rs")["access_token"]
    api = bearer(token)
    assert api.get(f"/fhir/r4/Patient/{patient.pk}").status_code == 200
    assert api.get(f"/fhir/r4/Observation?patient={patient.pk}").status_code == 403
    assert api.get(f"/fhir/r4/Procedure?patient={patient.pk}").status_code == 403
    assert api.get("/api/v1/patients/").status_code == 403  # the REST API needs system/*


def test_a_read_only_client_is_not_granted_write(smart_a, rsa_key, clinic_a):
    assert ask_token(smart_a, signed(smart_a, rsa_key), "system/*.cud") == {
        "status": 400,
        "error": "invalid_scope",
        "error_description": "None of the requested scopes can be granted.",
    }
    # Asking for more than it may have: granted what it may.
    answer = ask_token(smart_a, signed(smart_a, rsa_key), "system/*.cruds")
    assert answer["scope"] == "system/*.rs"
    token = answer["access_token"]
    refused = bearer(token).post(
        "/api/v1/patients/", {"mrn": "X1", "family_name": "Doe"}, content_type="application/json"
    )
    assert refused.status_code == 403


@pytest.mark.parametrize("scope", ["", "patient/*.read", "user/Patient.rs", "system/*.rx",
                                   "system/*.sr", "openid", "system/patient.rs"])  # fmt: skip
def test_scopes_that_are_not_smart_system_scopes_are_invalid(smart_a, rsa_key, scope):
    answer = ask_token(smart_a, signed(smart_a, rsa_key), scope)
    assert (answer["status"], answer["error"]) == (400, "invalid_scope")


def test_the_grant_type_and_assertion_type_are_checked(smart_a, rsa_key):
    form = {"grant_type": "password", "client_assertion_type": JWT_BEARER,
            "client_assertion": signed(smart_a, rsa_key), "scope": "system/*.rs"}  # fmt: skip
    answer = Client().post("/auth/token", form)
    assert (answer.status_code, answer.json()["error"]) == (400, "unsupported_grant_type")
    form.update(grant_type="client_credentials", client_assertion_type="password")
    answer = Client().post("/auth/token", form)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")
    assert Client().get("/auth/token").status_code == 405


# --- refused assertions -----------------------------------------------------------------


def refused(smart: SmartClient, assertion: str) -> str:
    answer = ask_token(smart, assertion)
    assert answer["status"] == 401, answer
    assert answer["error"] == "invalid_client"
    assert "access_token" not in answer
    return answer["error_description"]


def test_a_replayed_assertion_is_refused(smart_a, rsa_key):
    assertion = signed(smart_a, rsa_key)
    assert ask_token(smart_a, assertion)["status"] == 200
    assert "replayed" in refused(smart_a, assertion)
    assert SeenJwt.objects.filter(issuer=f"smart:{smart_a.client_id}").count() == 1


def test_the_same_jti_from_another_client_is_its_own(smart_a, rsa_key, clinic_a):
    other = SmartClient.register(clinic_a, "Other", rsa_key.jwks())
    first = claims(smart_a.client_id, token_url())
    second = {**claims(other.client_id, token_url()), "jti": first["jti"]}
    assert ask_token(smart_a, rsa_key.sign(first))["status"] == 200
    assert ask_token(other, rsa_key.sign(second))["status"] == 200


def test_an_expired_assertion_is_refused(smart_a, rsa_key):
    assert "expired" in refused(smart_a, signed(smart_a, rsa_key, lifetime=-120))


def test_an_assertion_living_more_than_five_minutes_is_refused(smart_a, rsa_key):
    assert "five minutes" in refused(smart_a, signed(smart_a, rsa_key, lifetime=15 * 60))


def test_an_assertion_signed_by_another_key_is_refused(smart_a, stranger_key):
    assert "signature" in refused(smart_a, signed(smart_a, stranger_key))


def test_an_assertion_for_another_audience_is_refused(smart_a, rsa_key):
    other = rsa_key.sign(claims(smart_a.client_id, "https://elsewhere.example/token"))
    assert "audience" in refused(smart_a, other)


def test_an_assertion_whose_subject_is_not_the_client_is_refused(smart_a, rsa_key):
    assert "sub" in refused(smart_a, signed(smart_a, rsa_key, sub="someone-else"))


@pytest.mark.parametrize("missing", ["exp", "jti", "aud", "sub"])
def test_an_assertion_without_a_required_claim_is_refused(smart_a, rsa_key, missing):
    body = claims(smart_a.client_id, token_url())
    del body[missing]
    assert missing in refused(smart_a, rsa_key.sign(body))


def test_hs256_none_and_rs256_are_refused(smart_a, rsa_key):
    body = claims(smart_a.client_id, token_url())
    hs256 = jwt.encode(body, "a-shared-secret-of-32-bytes-or-more!", algorithm="HS256",
                       headers={"kid": rsa_key.kid})  # fmt: skip
    assert "algorithm" in refused(smart_a, hs256)
    none = jwt.encode({**body, "jti": "2"}, None, algorithm="none", headers={"kid": rsa_key.kid})
    assert "algorithm" in refused(smart_a, none)
    rs256 = rsa_key.sign({**body, "jti": "3"}, algorithm="RS256")
    assert "algorithm" in refused(smart_a, rs256)


def test_a_tampered_assertion_is_refused(smart_a, rsa_key):
    header, payload, signature = signed(smart_a, rsa_key).split(".")
    forged = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"exp"', b'"exq"')
    ).decode()
    assert refused(smart_a, f"{header}.{forged}.{signature}")


def test_an_unknown_client_and_garbage_are_refused(smart_a, rsa_key):
    assert "unknown" in refused(smart_a, rsa_key.sign(claims("nobody", token_url())))
    assert "not a signed JWT" in refused(smart_a, "not.a.jwt")


def test_a_revoked_client_gets_no_token_and_its_tokens_stop(smart_a, rsa_key, clinic_a):
    token = ask_token(smart_a, signed(smart_a, rsa_key))["access_token"]
    assert bearer(token).get("/fhir/r4/Patient").status_code == 200
    smart_a.revoke()
    assert ApiClient.objects.get(pk=smart_a.identity_id).revoked_at is not None
    assert "revoked" in refused(smart_a, signed(smart_a, rsa_key))
    assert bearer(token).get("/fhir/r4/Patient").status_code == 401


# --- the access token -------------------------------------------------------------------


def test_an_access_token_expires(smart_a, rsa_key, settings):
    settings.SMART_ACCESS_TOKEN_SECONDS = 120
    with time_machine.travel(timezone.now(), tick=False) as clock:
        body = ask_token(smart_a, signed(smart_a, rsa_key))
        assert body["expires_in"] == 120
        api = bearer(body["access_token"])
        clock.shift(timedelta(seconds=119))
        assert api.get("/fhir/r4/Patient").status_code == 200
        clock.shift(timedelta(seconds=2))
        assert api.get("/fhir/r4/Patient").status_code == 401
        assert api.get("/api/v1/patients/").status_code == 401


def test_another_clinics_data_is_a_404_with_a_smart_token(smart_a, rsa_key, clinic_b):
    theirs = factories.patient(clinic_b, mrn="B-1")
    api = bearer(ask_token(smart_a, signed(smart_a, rsa_key))["access_token"])
    assert api.get(f"/fhir/r4/Patient/{theirs.pk}").status_code == 404
    assert api.get(f"/api/v1/patients/{theirs.pk}/").status_code == 404
    assert api.get("/fhir/r4/Patient?identifier=B-1").json().get("entry", []) == []
    assert api.get("/api/v1/patients/").json()["results"] == []


def test_a_smart_token_is_audited_as_its_client(smart_a, rsa_key, clinic_a):
    from patients.models import ApiRequest, RecordRead

    patient = factories.patient(clinic_a)
    api = bearer(ask_token(smart_a, signed(smart_a, rsa_key))["access_token"])
    assert api.get(f"/fhir/r4/Patient/{patient.pk}").status_code == 200
    read = RecordRead.objects.get()
    assert (read.client_id, read.patient_ids) == (smart_a.identity_id, [patient.pk])
    assert ApiRequest.objects.filter(client_id=smart_a.identity_id).exists()
    assert str(read.client) == "SMART: Backend of A (clinic-a)"


def test_existing_bearer_tokens_keep_working(integration_a, smart_a):
    assert integration_a.api.get("/api/v1/patients/").status_code == 200
    assert integration_a.api.get("/fhir/r4/Patient").status_code == 200


def test_the_identity_of_a_smart_client_has_no_usable_bearer_token(smart_a, manager_a_browser):
    # Not listed with the bearer-token clients, so never rotated into one.
    page = manager_a_browser.get("/admin/patients/apiclient/")
    assert "Backend of A" not in page.content.decode()
    with pytest.raises(Exception, match="No client"):
        call_command("rotate_api_client", "clinic-a", "SMART: Backend of A")


# --- registration -----------------------------------------------------------------------


def test_create_smart_client_prints_the_client_id_last(clinic_a, rsa_key, tmp_path, capsys):
    path = tmp_path / "jwks.json"
    path.write_text(__import__("json").dumps(rsa_key.jwks()))
    call_command("create_smart_client", "clinic-a", "Nightly sync", "--jwks", str(path))
    client_id = capsys.readouterr().out.strip().splitlines()[-1]
    smart = SmartClient.objects.get(client_id=client_id)
    assert (smart.clinic, smart.name, smart.scopes) == (clinic_a, "Nightly sync", ["read"])
    assert ask_token(smart, signed(smart, rsa_key))["status"] == 200


@pytest.mark.parametrize(
    "jwks",
    [
        {"keys": []},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]},
        "private",
        {"keys": [{"kty": "EC", "crv": "P-256", "kid": "p256", "x": "AA", "y": "AA"}]},
    ],
)
def test_a_jwks_that_is_not_public_rs384_or_es384_keys_is_refused(
    clinic_a, rsa_key, tmp_path, jwks
):
    if jwks == "private":
        private = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.private, as_dict=True)
        jwks = {"keys": [{**private, "kid": "k"}]}
    path = tmp_path / "jwks.json"
    path.write_text(__import__("json").dumps(jwks))
    with pytest.raises(Exception, match=r"jwks\.json"):
        call_command("create_smart_client", "clinic-a", "Bad", "--jwks", str(path))
    assert not SmartClient.objects.exists()


@pytest.fixture
def manager_a_browser(clinic_a):
    from patients.models import Role
    from tests.conftest import make_staff

    browser = Client()
    browser.force_login(make_staff("mona", clinic_a, Role.MANAGER))
    return browser


def test_a_manager_registers_a_client_in_the_admin(manager_a_browser, clinic_a, rsa_key):
    import json

    answer = manager_a_browser.post(
        "/admin/patients/smartclient/add/",
        {
            "clinic": clinic_a.pk,
            "name": "From the admin",
            "jwks": json.dumps(rsa_key.jwks()),
            "scopes": ["read"],
        },
        follow=True,
    )
    assert answer.status_code == 200
    smart = SmartClient.objects.get(name="From the admin")
    assert smart.created_by.username == "mona"
    assert smart.client_id in answer.content.decode()
    assert ask_token(smart, signed(smart, rsa_key))["status"] == 200


def test_a_clinician_cannot_register_a_client(clinic_a, rsa_key):
    from patients.models import Role
    from tests.conftest import make_staff

    browser = Client()
    browser.force_login(make_staff("cleo", clinic_a, Role.CLINICIAN))
    assert browser.get("/admin/patients/smartclient/add/").status_code == 403


def test_tokens_and_assertions_are_cleaned_as_they_expire(smart_a, rsa_key):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        ask_token(smart_a, signed(smart_a, rsa_key))
        clock.shift(timedelta(minutes=10))
        ask_token(smart_a, signed(smart_a, rsa_key))
    assert SmartAccessToken.objects.count() == 1
    assert SeenJwt.objects.count() == 1


def test_token_requests_are_rate_limited_per_address(smart_a, rsa_key, settings):
    from django.core.cache import cache

    cache.clear()
    settings.SMART_TOKEN_RATE = 2
    form = {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
            "scope": "system/*.rs"}  # fmt: skip
    busy = Client(REMOTE_ADDR="192.0.2.44")
    answers = [busy.post("/auth/token", {**form, "client_assertion": signed(smart_a, rsa_key)})
               for _ in range(3)]  # fmt: skip
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2]["Retry-After"] == "60"
    assert answers[2].json()["error"] == "invalid_request"
    assert "access_token" not in answers[2].json()  # refused before the assertion is read
    other = Client(REMOTE_ADDR="192.0.2.45")
    assert other.post("/auth/token", {**form, "client_assertion": signed(smart_a, rsa_key)}
                      ).status_code == 200  # fmt: skip
    cache.clear()
