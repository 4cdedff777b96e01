"""The numbered migrations of the server's records (SQLite `ServerDB` and PostgreSQL `PgServerDB`).

How to change a table of the records (docs/migrations.md says the same for every database):

1. Append a `Migration(n + 1, "what and why", SQL)` to `RECORDS` below. Never edit or renumber a
   migration that has shipped: installed servers already ran it and will not run it again.
2. Write SQL both backends accept (the records' one dialect, see server/db.py), one statement per `;`.
   `ALTER TABLE ... ADD COLUMN` with a DEFAULT, `CREATE INDEX IF NOT EXISTS`, `CREATE TABLE`: plain SQL.
   Anything that needs data rewritten or differs per backend: a function `step(conn)` that is idempotent.
3. Change the code that reads and writes the table in the same commit, and add a case to
   tests/test_migrations.py that upgrades a database of the previous version (tests/data/schema-v*).

`protocol.migrations` applies them at start: SQLite backs the file up beside itself first, PostgreSQL runs
pg_dump into `backup_dir`; the version lives in `PRAGMA user_version` / `schema_version('records')`.
A module owns the text of its tables only through a migration here, never by creating them on first use.
The list of every database's migrations: docs/migrations.md.
"""

from __future__ import annotations

from protocol.migrations import Migration

# Version 1: what release 0.1.0 created at start.
FIRST_RELEASE = """
CREATE TABLE IF NOT EXISTS stations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  mqtt_password TEXT NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fonds (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  archive_code TEXT NOT NULL DEFAULT '',
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS workorders (
  id TEXT PRIMARY KEY,
  fonds_code TEXT NOT NULL REFERENCES fonds(code),
  file_code TEXT NOT NULL,
  record TEXT NOT NULL,
  expected_sheets INTEGER NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  station_id TEXT,
  state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
  id TEXT PRIMARY KEY,
  station_id TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size BIGINT NOT NULL,
  file_code TEXT,
  batch_uid TEXT,
  work_order_id TEXT,
  expected_sheets INTEGER,
  received BIGINT NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  receipt TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (station_id, sha256)
);
"""

# Version 3: tables that server/auth.py, server/enrollment.py and server/operators.py used to create on
# first use. IF NOT EXISTS here only because a version-2 database may hold them already (or not).
MODULE_TABLES = """
CREATE TABLE IF NOT EXISTS web_users (
  name TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  last_login TEXT
);
CREATE TABLE IF NOT EXISTS web_sessions (
  sid_hash TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created DOUBLE PRECISION NOT NULL,
  seen DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS enrollment_codes (
  code_hash TEXT PRIMARY KEY,
  station_id TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  expires_at DOUBLE PRECISION NOT NULL,
  used_at TEXT
);
CREATE TABLE IF NOT EXISTS operators (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  pin_hash TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  updated_at TEXT NOT NULL
);
"""

RECORDS: list[Migration] = [
    Migration(1, "first release (0.1.0)", FIRST_RELEASE),
    Migration(2, "uploads found by state (open uploads at start, dashboard)",
              "CREATE INDEX IF NOT EXISTS uploads_state ON uploads (state);"),
    Migration(3, "web users and sessions, enrolment codes, operators: created at start, not on first use",
              MODULE_TABLES),
]
