"""Deployment hardening: what `check --deploy` says, headers, passwords, lockout."""

import os
import secrets
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.worker import ROOT


def test_check_deploy_with_production_settings_reports_nothing():
    env = {
        **os.environ,
        "SECURE_HTTPS": "true",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "followup.example.org",
        "DEBUG": "false",
    }
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


def test_secrets_come_from_the_environment_and_a_short_key_is_refused():
    env = {**os.environ, "SECRET_KEY": "too-short"}
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "followup.settings"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode != 0
    assert "SECRET_KEY" in run.stderr


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy_and_no_cdn(client):
    response = client.get("/admin/login/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    docs = client.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr" not in docs and "unpkg.com" not in docs


@pytest.mark.django_db
def test_passwords_are_hashed_with_argon2(settings):
    from followup import settings as production

    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS  # undo the tests' fast hasher
    user = get_user_model().objects.create_user("someone", password="a-long-password-123")
    assert user.password.startswith("argon2")


@pytest.mark.django_db
def test_the_admin_login_locks_after_repeated_failures(staff_a):
    staff_a.user.set_password("the-right-password-1")
    staff_a.user.save()
    browser = Client()
    for _ in range(5):
        browser.post("/admin/login/", {"username": "alice", "password": "wrong"})
    response = browser.post(
        "/admin/login/", {"username": "alice", "password": "the-right-password-1"}
    )
    assert response.status_code in (403, 429)
    assert "_auth_user_id" not in browser.session


@pytest.mark.django_db
def test_a_good_login_still_works_after_a_few_failures(staff_a):
    staff_a.user.set_password("the-right-password-1")
    staff_a.user.save()
    browser = Client()
    for _ in range(2):
        browser.post("/admin/login/", {"username": "alice", "password": "wrong"})
    response = browser.post(
        "/admin/login/", {"username": "alice", "password": "the-right-password-1"}
    )
    assert response.status_code == 302
    assert browser.session["_auth_user_id"] == str(staff_a.user.pk)
