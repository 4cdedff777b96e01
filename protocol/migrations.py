"""Numbered schema migrations: every database carries its schema version and steps up at start.

SQLite keeps the version in `PRAGMA user_version`; before the first pending step the file is copied with
the online backup API to `<name>.pre-v<N>-<time>.bak` next to it. Each SQL step runs in one BEGIN
IMMEDIATE transaction together with the new version number, and re-reads the version inside it, so two
processes starting at once apply each step once. A Python step (a callable) must be idempotent: it runs,
then the version is written.

PostgreSQL keeps it in `schema_version (component, version)`; all pending steps run in one transaction
under an advisory lock (DDL is transactional there: all or nothing), after `pg_dump` wrote a backup when
`backup_dir` is given.

Version 1 of each database is the schema the first release created with IF NOT EXISTS, so a database made
by that release (user_version 0, tables present) steps through version 1 without change and on from there.
A database newer than the software is refused (MigrationError), never downgraded.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.clock import iso_vn
from protocol.sqlitetx import write_transaction

log = logging.getLogger("sohoa.migrations")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    step: str | Callable[[Any], None]  # SQL script, or a function of the connection (idempotent)


class MigrationError(RuntimeError):
    """A database cannot be brought to this software's schema (newer than it, or a step failed)."""


def _check(migrations: list[Migration]) -> int:
    numbers = [m.version for m in migrations]
    assert numbers == list(range(1, len(numbers) + 1)), f"migrations must be numbered 1..n: {numbers}"
    return numbers[-1]


def statements(script: str) -> list[str]:
    """Split an SQLite script into complete statements (triggers with inner ';' stay whole)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def sqlite_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _backup_sqlite(conn: sqlite3.Connection, path: Path, target: int) -> Path | None:
    if not conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
        return None  # a new, empty database: nothing to keep
    dest = path.with_name(f"{path.name}.pre-v{target}-{iso_vn().replace(':', '')}.bak")
    out = sqlite3.connect(dest)
    try:
        conn.backup(out)
        out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        out.close()
    with open(dest, "rb+") as handle:
        os.fsync(handle.fileno())
    return dest


def migrate_sqlite(conn: sqlite3.Connection, path: Path, migrations: list[Migration], *, label: str) -> list[int]:
    """Bring the SQLite database at `path` (open as `conn`, autocommit) to the last version; returns the
    versions applied."""
    latest = _check(migrations)
    current = sqlite_version(conn)
    if current > latest:
        raise MigrationError(f"{path}: {label} schema version {current} is newer than this sohoa knows "
                             f"({latest}): upgrade sohoa, do not open it with an older release")
    pending = [m for m in migrations if m.version > current]
    if not pending:
        return []
    backup = _backup_sqlite(conn, Path(path), latest)
    if backup:
        log.warning("%s: schema %d -> %d; backup first: %s", path, current, latest, backup)
    applied = []
    for m in pending:
        if callable(m.step):
            m.step(conn)
            with write_transaction(conn):
                if sqlite_version(conn) < m.version:
                    conn.execute(f"PRAGMA user_version = {int(m.version)}")
            applied.append(m.version)
            continue
        with write_transaction(conn):
            if sqlite_version(conn) >= m.version:
                continue  # another process applied it meanwhile
            for sql in statements(m.step):
                conn.execute(sql)
            conn.execute(f"PRAGMA user_version = {int(m.version)}")
        applied.append(m.version)
        log.info("%s: %s migration %d (%s) applied", path, label, m.version, m.name)
    return applied


PG_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"


def migrate_postgres(conn: Any, migrations: list[Migration], *, component: str, url: str = "",
                     backup_dir: Path | None = None) -> list[int]:
    """Bring `component`'s tables in the PostgreSQL database of `conn` (autocommit) to the last version."""
    latest = _check(migrations)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("sohoa-migrate-" + component,))
        conn.execute(PG_TABLE)
        row = conn.execute("SELECT version FROM schema_version WHERE component = %s", (component,)).fetchone()
        current = int((row["version"] if isinstance(row, dict) else row[0]) if row else 0)
        if current > latest:
            raise MigrationError(f"{component} schema version {current} is newer than this sohoa knows ({latest})")
        pending = [m for m in migrations if m.version > current]
        if pending and backup_dir is not None and url and _pg_has_tables(conn):
            _pg_dump(url, Path(backup_dir), component, latest)
        for m in pending:
            if callable(m.step):
                m.step(conn)
            else:
                conn.execute(m.step)
        if pending:
            conn.execute("INSERT INTO schema_version (component, version) VALUES (%s, %s) ON CONFLICT (component) "
                         "DO UPDATE SET version = EXCLUDED.version", (component, latest))
            log.info("postgresql %s: schema %d -> %d", component, current, latest)
    return [m.version for m in pending]


def _pg_has_tables(conn: Any) -> bool:
    """Anything to keep: a database made before migrations has tables but no schema_version row yet."""
    row = conn.execute("SELECT count(*) AS n FROM pg_tables WHERE schemaname = current_schema() "
                       "AND tablename <> 'schema_version'").fetchone()
    return int(row["n"] if isinstance(row, dict) else row[0]) > 0


def _pg_dump(url: str, folder: Path, component: str, target: int) -> Path:
    exe = shutil.which("pg_dump")
    if not exe:
        raise MigrationError("pg_dump is needed to back up PostgreSQL before migrating (apt-get install "
                             "postgresql-client)")
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{component}.pre-v{target}-{iso_vn().replace(':', '')}.dump"
    done = subprocess.run([exe, "--format=custom", f"--file={dest}", url], capture_output=True, text=True,
                          timeout=3600)
    if done.returncode != 0:
        raise MigrationError(f"pg_dump before migrating {component} failed: {done.stderr.strip()[-500:]}")
    return dest
