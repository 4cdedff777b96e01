"""Numbered schema migrations: databases made by release 0.1.0 (tests/data/release-0.1.0, made with that
release's code) step up to the current schema at start, after a backup, with their rows kept; a second
start does nothing; a database newer than the software is refused."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from protocol.migrations import MigrationError
from server.records.migrations import RECORDS

LAST_RECORDS = RECORDS[-1].version

RELEASE = Path(__file__).parent / "data" / "release-0.1.0"
SCHEMA_V2 = Path(__file__).parent / "data" / "schema-v2"  # records as commit 3e60b1e left them
sys.path.insert(0, str(Path(__file__).parent / "server"))


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


@pytest.fixture
def old(tmp_path: Path) -> Path:
    for name in ("server.db", "catalog.db", "station.db"):
        shutil.copy(RELEASE / name, tmp_path / name)
        assert _version(tmp_path / name) == 0, "made before migrations"
    return tmp_path


def test_server_records_upgrade_keeps_rows_after_a_backup(old: Path):
    from server.records.db import ServerDB

    db = ServerDB(old / "server.db")
    assert _version(old / "server.db") == LAST_RECORDS and "uploads_state" in _indexes(old / "server.db")
    assert [s["id"] for s in db.stations()] == ["tram-01"]
    assert db.one("SELECT size FROM uploads WHERE sha256 = ?", ("A" * 64,))["size"] == 123
    [backup] = old.glob(f"server.db.pre-v{LAST_RECORDS}-*.bak")
    assert _version(backup) == 0 and "uploads_state" not in _indexes(backup), "the backup is the old database"
    db.close()
    ServerDB(old / "server.db").close()
    assert len(list(old.glob("server.db.pre-v*"))) == 1, "nothing to do the second time: no second backup"


def test_catalogue_upgrade(old: Path):
    from server.catalogue.catalog import Catalog

    catalog = Catalog(old / "catalog.db")
    assert _version(old / "catalog.db") == 2 and "packages_added_at" in _indexes(old / "catalog.db")
    assert [p["objid"] for p in catalog.packages()] == ["urn:uuid-1"]
    assert list(old.glob("catalog.db.pre-v2-*.bak"))


def test_station_upgrade(old: Path):
    from station.store import Store

    store = Store(old / "station.db")
    assert _version(old / "station.db") == 2 and "outbox_state" in _indexes(old / "station.db")
    assert store.query("SELECT expected_sheets FROM batches")[0]["expected_sheets"] == 3
    assert list(old.glob("station.db.pre-v2-*.bak"))


def test_new_database_starts_at_the_last_version_without_backup(tmp_path: Path):
    from station.store import Store

    Store(tmp_path / "new.db")
    assert _version(tmp_path / "new.db") == 2 and not list(tmp_path.glob("*.bak"))


def test_database_newer_than_the_software_is_refused(old: Path):
    from server.records.db import ServerDB

    with sqlite3.connect(old / "server.db") as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(MigrationError, match="newer than this sohoa"):
        ServerDB(old / "server.db")


def test_postgresql_records_and_catalogue_of_the_first_release_upgrade(tmp_path: Path):
    import psycopg
    from test_catalog_pg import pg_database

    from server.catalogue.catalog_pg import PgCatalog
    from server.records.db_pg import PgServerDB

    with pg_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:  # what release 0.1.0 ran, and a row
            conn.execute((RELEASE / "records-pg.sql").read_text())
            conn.execute((RELEASE / "catalog-pg.sql").read_text())
            conn.execute("INSERT INTO stations VALUES ('tram-01', 'Trạm 1', 'x', 'y', 0, 'now')")
        db = PgServerDB(url, backup_dir=tmp_path / "dumps")
        catalog = PgCatalog(url, backup_dir=tmp_path / "dumps")
        with psycopg.connect(url, autocommit=True) as conn:
            versions = dict(conn.execute("SELECT component, version FROM schema_version").fetchall())
            names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
        assert versions == {"records": LAST_RECORDS, "catalog": 2}
        assert {"uploads_state", "packages_added_at"} <= names
        assert [s["id"] for s in db.stations()] == ["tram-01"]
        dumps = sorted(p.name.split(".pre-")[0] for p in (tmp_path / "dumps").glob("*.dump"))
        assert dumps == ["catalog", "records"], "pg_dump before each component's migration"
        db.close()
        catalog.close()
        PgServerDB(url, backup_dir=tmp_path / "dumps").close()  # up to date: no second dump
        assert len(list((tmp_path / "dumps").glob("*.dump"))) == 2


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_records_of_the_previous_schema_keep_accounts_made_on_first_use(tmp_path: Path):
    """Version 2 records, written by the code of 3e60b1e: web users, sessions, enrolment codes and operators
    were tables their modules created on first use. They step up to version 3 with every row kept, and the
    modules work on them without creating anything."""
    from server.accounts import auth, operators
    from server.records.db import ServerDB

    shutil.copy(SCHEMA_V2 / "server.db", tmp_path / "server.db")
    assert _version(tmp_path / "server.db") == 2
    db = ServerDB(tmp_path / "server.db")
    assert _version(tmp_path / "server.db") == LAST_RECORDS == 6
    assert [b.name for b in tmp_path.glob("server.db.pre-v6-*.bak")], "backed up before stepping up"
    assert auth.verify_login(db, "truong.phong", "mat-khau-dai-1") == auth.User("truong.phong", "supervisor")
    assert db.one("SELECT count(*) AS n FROM web_sessions")["n"] == 1
    assert db.one("SELECT station_id FROM enrollment_codes")["station_id"] == "tram-02"
    assert operators.check_pin(db, "NV01", "1234")["name"] == "Nguyễn Văn A"
    assert [s["id"] for s in db.stations()] == ["tram-01"]
    db.close()


def test_new_records_have_every_table_before_any_module_runs(tmp_path: Path):
    """The tables of auth, enrollment and operators exist from the start (a migration made them), and the
    same probe on a version-2 database that never used those modules finds them missing."""
    from server.records.db import ServerDB
    from server.records.migrations import MODULE_TABLES

    wanted = {"web_users", "web_sessions", "enrollment_codes", "operators"}
    assert wanted <= {s.split()[5] for s in MODULE_TABLES.split(";") if s.strip()}
    assert not wanted & _tables(RELEASE / "server.db"), "the probe sees them missing in an old database"
    ServerDB(tmp_path / "server.db").close()
    assert wanted <= _tables(tmp_path / "server.db")
    assert _version(tmp_path / "server.db") == LAST_RECORDS


def test_the_archive_tables_come_from_migrations_and_the_log_stays_append_only(tmp_path: Path):
    """The archive's and work orders' tables (once made on first use) exist after a step up from version 2,
    and the access log refuses to be rewritten there (its trigger came with the migration)."""
    from server.records.db import ServerDB

    archive = {"archive_states", "acceptance_decisions", "acceptance_samples", "archive_copies", "archive_audit",
               "workorder_meta", "workorder_progress"}
    shutil.copy(SCHEMA_V2 / "server.db", tmp_path / "server.db")
    assert not archive & _tables(tmp_path / "server.db"), "the probe sees them missing before"
    db = ServerDB(tmp_path / "server.db")
    assert archive <= _tables(tmp_path / "server.db")
    with db.tx() as conn:
        conn.execute("INSERT INTO archive_audit (at, actor, action, target, address) "
                     "VALUES ('t', 'a', 'view_hoso', 'x', '-')")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        with db.tx() as conn:
            conn.execute("UPDATE archive_audit SET actor = 'someone else'")
    db.close()


def test_postgresql_records_of_the_previous_schema_step_up(tmp_path: Path):
    """Version 2 on PostgreSQL (schema_version says 2, the modules' tables made on first use with a row in
    each) steps up to version 3 with the rows kept."""
    import psycopg
    from test_catalog_pg import pg_database

    from protocol.migrations import migrate_postgres
    from server.records.db_pg import PgServerDB

    with pg_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            migrate_postgres(conn, RECORDS[:2], component="records")
            conn.execute((SCHEMA_V2 / "lazy-tables-pg.sql").read_text())
            conn.execute("INSERT INTO operators VALUES ('NV01', 'Nguyễn Văn A', 'operator', 'x', 1, 'now')")
        db = PgServerDB(url, backup_dir=tmp_path / "dumps")
        with psycopg.connect(url, autocommit=True) as conn:
            [(version,)] = conn.execute("SELECT version FROM schema_version WHERE component = 'records'")
        assert version == LAST_RECORDS == 6
        assert db.one("SELECT name FROM operators WHERE code = 'NV01'")["name"] == "Nguyễn Văn A"
        assert len(list((tmp_path / "dumps").glob("records.pre-v6-*.dump"))) == 1
        db.query("SELECT count(*) FROM acceptance_decisions")  # the archive's tables came with the step
        with db.tx() as conn:
            conn.execute("INSERT INTO archive_audit (at, actor, action, target, address) "
                         "VALUES ('t', 'a', 'view_hoso', 'x', '-')")
        with db.tx() as conn:
            conn.execute("UPDATE archive_audit SET actor = 'someone else'")
        assert [r["actor"] for r in db.query("SELECT actor FROM archive_audit")] == ["a"], "the log stays as written"
        db.close()


UPLOADS_V5 = [  # (id, station, sha256, batch, verdict, objid, updated_at): B-2 is the newer version of OBJ-1
    ("u1", "tram-a", "A" * 64, "B-1", "accepted", "OBJ-1", "2026-12-01T08:00:00.000+07:00"),
    ("u2", "tram-b", "B" * 64, "B-2", "accepted", "OBJ-1", "2026-12-02T08:00:00.000+07:00"),
    ("u3", "tram-a", "C" * 64, "B-3", "accepted", "OBJ-2", "2026-12-01T09:00:00.000+07:00"),
    ("u4", "tram-a", "D" * 64, "B-4", "rejected", "OBJ-3", "2026-12-01T10:00:00.000+07:00"),
]


def _uploads_v5(execute, mark: str) -> None:
    import json

    for uid, station, sha, batch, verdict, objid, at in UPLOADS_V5:
        execute("INSERT INTO uploads (id, station_id, sha256, size, file_code, batch_uid, state, receipt,"
                f" created_at, updated_at) VALUES ({', '.join([mark] * 10)})",
                (uid, station, sha, 1, "000.00.00.H47.2001.1", batch, verdict,
                 json.dumps({"objid": objid, "verdict": verdict}), at, at))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_version_6_indexes_each_hoso_maker_from_the_uploads_there(tmp_path: Path, backend: str):
    """Migration 6 fills archive_makers from the accepted uploads of a version-5 database: the station of the
    newest accepted upload per OBJID (a rejected one makes nobody the maker), indexed by station."""
    from contextlib import ExitStack

    from protocol.migrations import migrate_sqlite

    with ExitStack() as stack:
        if backend == "sqlite":
            from server.records.db import ServerDB

            conn = sqlite3.connect(tmp_path / "server.db", isolation_level=None)
            migrate_sqlite(conn, tmp_path / "server.db", RECORDS[:5], label="records")
            _uploads_v5(conn.execute, "?")
            assert "archive_makers" not in _tables(tmp_path / "server.db"), "the probe sees it missing at v5"
            conn.close()
            db = ServerDB(tmp_path / "server.db")
            assert "archive_makers_station" in _indexes(tmp_path / "server.db")
        else:
            import psycopg
            from test_catalog_pg import pg_database

            from protocol.migrations import migrate_postgres
            from server.records.db_pg import PgServerDB

            url = stack.enter_context(pg_database())
            with psycopg.connect(url, autocommit=True) as conn:
                migrate_postgres(conn, RECORDS[:5], component="records")
                _uploads_v5(conn.execute, "%s")
            db = PgServerDB(url, backup_dir=tmp_path / "dumps")
        stack.callback(db.close)
        rows = db.query("SELECT objid, station_id, batch_uid FROM archive_makers ORDER BY objid")
        assert [(r["objid"], r["station_id"], r["batch_uid"]) for r in rows] == [
            ("OBJ-1", "tram-b", "B-2"), ("OBJ-2", "tram-a", "B-3")]
