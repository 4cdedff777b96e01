"""The numbered migrations of the server's records (SQLite `ServerDB` and PostgreSQL `PgServerDB`).

How to change a table of the records (docs/migrations.md says the same for every database):

1. Append a `Migration(n + 1, "what and why", SQL)` to `RECORDS` below. Never edit or renumber a
   migration that has shipped: installed servers already ran it and will not run it again.
2. Write SQL both backends accept (the records' one dialect, see server/records/db.py), one statement per `;`.
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

import json
import sqlite3
from typing import Any

from protocol.migrations import Migration, statements

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

# Version 3: tables that server/accounts/auth.py, server/accounts/enrollment.py and
# server/accounts/operators.py used to create on first use. IF NOT EXISTS here only because a version-2
# database may hold them already (or not).
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

# Version 4: the archive's tables (states, acceptance decisions and samples, copies) and the work orders' own
# (server/workorders/orders.py), which their modules used to create on first use. IF NOT EXISTS for the same
# reason as version 3.
ARCHIVE_TABLES = """
CREATE TABLE IF NOT EXISTS archive_states (
  objid TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  changed_at TEXT NOT NULL,
  changed_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS acceptance_decisions (
  id TEXT PRIMARY KEY,
  lot TEXT NOT NULL,
  objids TEXT NOT NULL,
  decision TEXT NOT NULL,
  defects TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT '',
  proposed_by TEXT NOT NULL,
  proposed_at TEXT NOT NULL,
  validated_by TEXT,
  validated_at TEXT
);
CREATE TABLE IF NOT EXISTS acceptance_samples (
  id TEXT PRIMARY KEY,
  lot TEXT NOT NULL,
  station_id TEXT NOT NULL DEFAULT '',
  policy TEXT NOT NULL,
  severity TEXT NOT NULL,
  seed TEXT NOT NULL,
  lot_size INTEGER NOT NULL,
  sample TEXT NOT NULL,
  drawn_by TEXT NOT NULL,
  drawn_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS archive_copies (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  objid TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  source_sha256 TEXT NOT NULL,
  request TEXT NOT NULL,
  until TEXT NOT NULL,
  made_by TEXT NOT NULL,
  made_at TEXT NOT NULL,
  file TEXT NOT NULL,
  sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS workorder_meta (
  id TEXT PRIMARY KEY,
  flags TEXT NOT NULL DEFAULT '[]',
  source TEXT NOT NULL DEFAULT '',
  source_row INTEGER
);
CREATE TABLE IF NOT EXISTS workorder_progress (
  station_id TEXT NOT NULL,
  batch TEXT NOT NULL,
  file_code TEXT NOT NULL,
  batch_state TEXT,
  pages_captured INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (station_id, batch)
);
"""

# The access log is insert-only: SQLite refuses UPDATE/DELETE with triggers, PostgreSQL turns them into nothing.
AUDIT_SQLITE = """
CREATE TABLE IF NOT EXISTS archive_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  address TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS archive_audit_no_update BEFORE UPDATE ON archive_audit
BEGIN SELECT RAISE(ABORT, 'archive_audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS archive_audit_no_delete BEFORE DELETE ON archive_audit
BEGIN SELECT RAISE(ABORT, 'archive_audit is append-only'); END;
"""
AUDIT_PG = """
CREATE TABLE IF NOT EXISTS archive_audit (
  id BIGSERIAL PRIMARY KEY,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  address TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE OR REPLACE RULE archive_audit_no_update AS ON UPDATE TO archive_audit DO INSTEAD NOTHING;
CREATE OR REPLACE RULE archive_audit_no_delete AS ON DELETE TO archive_audit DO INSTEAD NOTHING;
"""


def _archive_audit(conn: Any) -> None:
    if isinstance(conn, sqlite3.Connection):
        for sql in statements(AUDIT_SQLITE):
            conn.execute(sql)
    else:
        conn.execute(AUDIT_PG)


# Version 6: which station made each hồ sơ (the one that sent its newest station-made version), so a station's
# rework list is one indexed query instead of a scan of every returned hồ sơ (server/archive/rework.py). Filled
# from the accepted uploads already there; kept by rework.record_maker on every accepted upload after. And
# each acceptance decision's ISO 2859-1 plan with its verdict (JSON) and the reason for a proposal against it.
MAKERS = """
CREATE TABLE IF NOT EXISTS archive_makers (
  objid TEXT PRIMARY KEY,
  station_id TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  batch_uid TEXT,
  work_order_id TEXT,
  file_code TEXT,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS archive_makers_station ON archive_makers (station_id);
ALTER TABLE acceptance_decisions ADD COLUMN plan TEXT NOT NULL DEFAULT '';
ALTER TABLE acceptance_decisions ADD COLUMN plan_reason TEXT NOT NULL DEFAULT '';
"""


def _makers(conn: Any) -> None:
    lite = isinstance(conn, sqlite3.Connection)
    for sql in statements(MAKERS):
        conn.execute(sql)
    mark = "?" if lite else "%s"
    cols = ("station_id", "sha256", "batch_uid", "work_order_id", "file_code", "receipt", "updated_at")
    rows = conn.execute(f"SELECT {', '.join(cols)} FROM uploads WHERE state = 'accepted' AND receipt IS NOT NULL"
                        " ORDER BY updated_at").fetchall()
    for row in rows:
        values = [row[c] for c in cols] if isinstance(row, dict) else list(row)
        station_id, sha256, batch_uid, work_order_id, file_code, receipt, updated_at = values
        try:
            objid = json.loads(receipt).get("objid") or ""
        except (ValueError, AttributeError):
            continue
        if objid:
            conn.execute(
                "INSERT INTO archive_makers (objid, station_id, sha256, batch_uid, work_order_id, file_code,"
                f" updated_at) VALUES ({', '.join([mark] * 7)}) ON CONFLICT (objid) DO UPDATE SET"
                " station_id = excluded.station_id, sha256 = excluded.sha256, batch_uid = excluded.batch_uid,"
                " work_order_id = excluded.work_order_id, file_code = excluded.file_code,"
                " updated_at = excluded.updated_at",
                (objid, station_id, sha256, batch_uid, work_order_id, file_code, updated_at))


RECORDS: list[Migration] = [
    Migration(1, "first release (0.1.0)", FIRST_RELEASE),
    Migration(2, "uploads found by state (open uploads at start, dashboard)",
              "CREATE INDEX IF NOT EXISTS uploads_state ON uploads (state);"),
    Migration(3, "web users and sessions, enrolment codes, operators: created at start, not on first use",
              MODULE_TABLES),
    Migration(4, "the archive's tables (states, acceptance, copies) and the work orders' own: at start",
              ARCHIVE_TABLES),
    Migration(5, "the archive's insert-only access log", _archive_audit),
    Migration(6, "each hồ sơ's maker station, indexed (a station's rework list without a scan); decisions' "
              "ISO 2859-1 plan and the reason for going against it", _makers),
]
