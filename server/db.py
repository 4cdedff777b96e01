"""The server's own records: station accounts, fonds, work orders, uploads and receipts (SQLite, WAL)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from protocol.clock import iso_vn

SCHEMA = """
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
  size INTEGER NOT NULL,
  file_code TEXT,
  batch_uid TEXT,
  work_order_id TEXT,
  expected_sheets INTEGER,
  received INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  receipt TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (station_id, sha256)
);
"""


def hash_token(token: str) -> str:
    # Tokens are 32 random bytes: a plain hash is enough (no dictionary to guard against).
    return hashlib.sha256(token.encode()).hexdigest()


class ServerDB:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self._conn().executescript(SCHEMA)  # executescript commits on its own

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn().execute(sql, params)]

    def one(self, sql: str, params: tuple = ()) -> dict[str, Any] | None:
        row = self._conn().execute(sql, params).fetchone()
        return dict(row) if row else None

    # -- stations ------------------------------------------------------------------------------
    def add_station(self, station_id: str, *, name: str = "") -> dict[str, str]:
        """Create (or re-key) a station account; returns the secrets once, they are not kept in clear."""
        token = secrets.token_urlsafe(32)
        mqtt_password = secrets.token_urlsafe(24)
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO stations (id, name, token_hash, mqtt_password, created_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET token_hash = excluded.token_hash,"
                " mqtt_password = excluded.mqtt_password, revoked = 0",
                (station_id, name or station_id, hash_token(token), mqtt_password, iso_vn()),
            )
        return {"station_id": station_id, "token": token, "mqtt_password": mqtt_password}

    def authenticate(self, station_id: str, token: str) -> bool:
        row = self.one("SELECT token_hash, revoked FROM stations WHERE id = ?", (station_id,))
        if row is None or row["revoked"]:
            return False
        return hmac.compare_digest(row["token_hash"], hash_token(token))

    def revoke_station(self, station_id: str) -> bool:
        """Refuse this station from its next request on (every request re-checks); False if unknown."""
        with self.tx() as conn:
            cur = conn.execute("UPDATE stations SET revoked = 1 WHERE id = ?", (station_id,))
        return cur.rowcount == 1

    def stations(self) -> list[dict[str, Any]]:
        return self.query("SELECT id, name, revoked, created_at FROM stations ORDER BY id")

    def mqtt_accounts(self) -> dict[str, str]:
        return {r["id"]: r["mqtt_password"] for r in self.query(
            "SELECT id, mqtt_password FROM stations WHERE revoked = 0")}

    # -- fonds and work orders -----------------------------------------------------------------
    def add_fonds(self, code: str, name: str, *, archive_code: str = "", record: dict | None = None) -> None:
        with self.tx() as conn:
            conn.execute("INSERT OR REPLACE INTO fonds (code, name, archive_code, record) VALUES (?, ?, ?, ?)",
                         (code, name, archive_code, json.dumps(record or {}, ensure_ascii=False)))

    def add_workorder(self, *, fonds_code: str, file_code: str, record: dict, expected_sheets: int,
                      station_id: str | None = None, priority: int = 0) -> str:
        wo_id = f"WO-{uuid.uuid4().hex[:12].upper()}"
        now = iso_vn()
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO workorders (id, fonds_code, file_code, record, expected_sheets, priority, station_id,"
                " state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'assigned', ?, ?)",
                (wo_id, fonds_code, file_code, json.dumps(record, ensure_ascii=False), expected_sheets,
                 priority, station_id, now, now),
            )
        return wo_id

    def workorders(self, *, station_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM workorders"
        params: tuple = ()
        if station_id is not None:
            sql += " WHERE station_id = ? OR station_id IS NULL"
            params = (station_id,)
        rows = self.query(sql + " ORDER BY priority DESC, created_at", params)
        for row in rows:
            row["record"] = json.loads(row["record"])
        return rows

    def set_workorder_state(self, wo_id: str, state: str) -> None:
        with self.tx() as conn:
            conn.execute("UPDATE workorders SET state = ?, updated_at = ? WHERE id = ?", (state, iso_vn(), wo_id))

    # -- uploads -------------------------------------------------------------------------------
    def open_upload(self, *, station_id: str, sha256: str, size: int, file_code: str | None,
                    batch_uid: str | None, work_order_id: str | None, expected_sheets: int | None) -> dict:
        """The upload for this station and package hash: new, or the existing one (idempotent)."""
        with self.tx() as conn:
            row = conn.execute("SELECT * FROM uploads WHERE station_id = ? AND sha256 = ?",
                               (station_id, sha256)).fetchone()
            if row is None:
                now = iso_vn()
                upload_id = uuid.uuid4().hex
                conn.execute(
                    "INSERT INTO uploads (id, station_id, sha256, size, file_code, batch_uid, work_order_id,"
                    " expected_sheets, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)",
                    (upload_id, station_id, sha256, size, file_code, batch_uid, work_order_id, expected_sheets,
                     now, now),
                )
                row = conn.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        return dict(row)

    def upload(self, upload_id: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM uploads WHERE id = ?", (upload_id,))

    def set_received(self, upload_id: str, received: int) -> None:
        with self.tx() as conn:
            conn.execute("UPDATE uploads SET received = ?, updated_at = ? WHERE id = ?",
                         (received, iso_vn(), upload_id))

    def finish_upload(self, upload_id: str, *, state: str, receipt: dict) -> None:
        with self.tx() as conn:
            conn.execute("UPDATE uploads SET state = ?, receipt = ?, updated_at = ? WHERE id = ?",
                         (state, json.dumps(receipt, ensure_ascii=False), iso_vn(), upload_id))
