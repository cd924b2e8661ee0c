"""The settings module fails loudly, naming the variable, on a value it cannot understand."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from followup.settings import env_bool, env_int, env_list

PROJECT_DIR = Path(__file__).resolve().parents[2]
VARIABLE = "FOLLOWUP_TEST_SETTING"


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "nein"])
def test_env_bool_refuses_a_value_that_is_not_a_boolean(monkeypatch, raw):
    monkeypatch.setenv(VARIABLE, raw)
    with pytest.raises(ImproperlyConfigured, match=VARIABLE):
        env_bool(VARIABLE, False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), (" yes ", True), ("on", True), ("0", False), ("off", False)],
)
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv(VARIABLE, raw)
    assert env_bool(VARIABLE, not expected) is expected


def test_env_bool_falls_back_to_the_default_when_unset(monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    assert env_bool(VARIABLE, True) is True


@pytest.mark.parametrize("raw", ["ten", "1.5", "", "0x10"])
def test_env_int_refuses_a_value_that_is_not_an_integer(monkeypatch, raw):
    monkeypatch.setenv(VARIABLE, raw)
    with pytest.raises(ImproperlyConfigured, match=VARIABLE):
        env_int(VARIABLE, 3)


def test_env_int_reads_an_integer(monkeypatch):
    monkeypatch.setenv(VARIABLE, "42")
    assert env_int(VARIABLE, 3) == 42


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv(VARIABLE, " a.example , b.example,, ")
    assert env_list(VARIABLE, ["default"]) == ["a.example", "b.example"]


def test_env_list_falls_back_to_the_default_when_unset(monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    assert env_list(VARIABLE, ["default"]) == ["default"]


def run_django_setup(code: str = "", **overrides: str) -> subprocess.CompletedProcess:
    """A fresh interpreter that loads the settings, with some variables overridden."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    env["DJANGO_SETTINGS_MODULE"] = "followup.settings"
    env["SECRET_KEY"] = "a-test-secret-key-that-is-long-enough-for-the-check"
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://user@localhost/followup"),
        ("DATABASE_URL", "not a url at all"),
        ("REDIS_URL", "http://x"),
        ("EMAIL_PORT", "smtp"),
        ("TIME_ZONE", "Mars/Olympus_Mons"),
    ],
)
def test_startup_stops_on_a_bad_value_naming_the_variable(variable, value):
    result = run_django_setup(**{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr


def test_startup_succeeds_with_good_values():
    """The failures above come from the bad value, not from a broken environment."""
    result = run_django_setup("print('ready')")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ready"


def test_debug_is_off_by_default():
    result = run_django_setup("from django.conf import settings; print(settings.DEBUG)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
