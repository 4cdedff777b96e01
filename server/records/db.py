"""The server's own records: station accounts, fonds, work orders, uploads and receipts.

`Records` holds every method and statement once; a backend gives it connections. `ServerDB` is the default
backend (one SQLite file per server, WAL); `server/records/db_pg.py: PgServerDB` keeps the same records in
PostgreSQL so several server processes share them. `server/databases.py: open_server_db` picks one from a
single setting (this module does not know the PostgreSQL backend: db_pg builds on it, not the reverse).

Statements are written for both: `?` placeholders (the PostgreSQL backend rewrites them), column types
both accept (BIGINT, DOUBLE PRECISION), and `INSERT ... ON CONFLICT` rather than SQLite's `INSERT OR ...`.
What still differs is named in `Dialect`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.clock import iso_vn
from protocol.ids import check_station_id, is_station_id
from protocol.sqlitetx import open_durable, write_transaction

log = logging.getLogger("sohoa.server.db")



@dataclass(frozen=True)
class Dialect:
    """The few places where one SQL text does not fit both backends."""

    name: str
    for_update: str  # row lock for read-then-write; SQLite's BEGIN IMMEDIATE already locks the database
    greatest: str  # the larger of two values (SQLite's two-argument MAX)


SQLITE = Dialect(name="sqlite", for_update="", greatest="MAX")
POSTGRES = Dialect(name="postgresql", for_update=" FOR UPDATE", greatest="GREATEST")


def hash_token(token: str) -> str:
    # Tokens are 32 random bytes: a plain hash is enough (no dictionary to guard against).
    return hashlib.sha256(token.encode()).hexdigest()


class Records:
    """The server's records over a backend that provides `tx`, `query`, `one`,
    `upload_lock` and `close`. Connections yielded by `tx()` take `execute(sql, params)` and
    `executemany(sql, rows)` with `?` placeholders and return rows that index by column name."""

    dialect: Dialect
    errors: tuple[type[BaseException], ...] = ()  # what the backend raises when the database fails

    # -- backend primitives ------------------------------------------------------------------------
    def tx(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def one(self, sql: str, params: tuple = ()) -> dict[str, Any] | None:
        raise NotImplementedError

    def upload_lock(self, upload_id: str) -> AbstractContextManager[Any]:
        """Held while a chunk is written or an upload committed, against every server sharing the records."""
        raise NotImplementedError

    def is_disk_full(self, exc: BaseException) -> bool:
        return False

    def close(self) -> None:
        raise NotImplementedError

    # -- stations ------------------------------------------------------------------------------
    def add_station(self, station_id: str, *, name: str = "") -> dict[str, str]:
        """Create (or re-key) a station account; returns the secrets once, they are not kept in clear."""
        check_station_id(station_id)
        from server.records.mqtt_password import hash_password

        token = secrets.token_urlsafe(32)
        mqtt_password = secrets.token_urlsafe(24)
        with self.tx() as conn:  # the broker needs only the hash (mosquitto's $7$): the secret is returned once
            conn.execute(
                "INSERT INTO stations (id, name, token_hash, mqtt_password, created_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET token_hash = excluded.token_hash,"
                " mqtt_password = excluded.mqtt_password, revoked = 0",
                (station_id, name or station_id, hash_token(token), hash_password(mqtt_password), iso_vn()),
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
            changed = cur.rowcount == 1
        return changed

    def stations(self) -> list[dict[str, Any]]:
        return self.query("SELECT id, name, revoked, created_at FROM stations ORDER BY id")

    def mqtt_accounts(self) -> dict[str, str]:
        """Station id -> the broker's password hash ($7$). A password still kept in clear (written before
        hashes) is hashed in place now."""
        from server.records.mqtt_password import hash_password, is_password_hash

        accounts = {}
        for r in self.query("SELECT id, mqtt_password FROM stations WHERE revoked = 0"):
            if not is_password_hash(r["mqtt_password"]):
                r["mqtt_password"] = hash_password(r["mqtt_password"])
                with self.tx() as conn:
                    conn.execute("UPDATE stations SET mqtt_password = ? WHERE id = ?", (r["mqtt_password"], r["id"]))
            if not is_station_id(r["id"]):  # a row from before the rule: left out, the others still work
                log.warning("station %r left out of the broker accounts: its id breaks the rule", r["id"])
                continue
            accounts[r["id"]] = r["mqtt_password"]
        return accounts

    # -- fonds and work orders -----------------------------------------------------------------
    def add_fonds(self, code: str, name: str, *, archive_code: str = "", record: dict | None = None) -> None:
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO fonds (code, name, archive_code, record) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(code) DO UPDATE SET name = excluded.name,"
                " archive_code = excluded.archive_code, record = excluded.record",
                (code, name, archive_code, json.dumps(record or {}, ensure_ascii=False)),
            )

    def add_workorder(
        self,
        *,
        fonds_code: str,
        file_code: str,
        record: dict,
        expected_sheets: int,
        station_id: str | None = None,
        priority: int = 0,
    ) -> str:
        wo_id = f"WO-{uuid.uuid4().hex[:12].upper()}"
        now = iso_vn()
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO workorders (id, fonds_code, file_code, record, expected_sheets, priority, station_id,"
                " state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'assigned', ?, ?)",
                (
                    wo_id,
                    fonds_code,
                    file_code,
                    json.dumps(record, ensure_ascii=False),
                    expected_sheets,
                    priority,
                    station_id,
                    now,
                    now,
                ),
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

    def workorder(self, wo_id: str) -> dict[str, Any] | None:
        row = self.one("SELECT * FROM workorders WHERE id = ?", (wo_id,))
        if row is not None:
            row["record"] = json.loads(row["record"])
        return row

    def set_workorder_state(self, wo_id: str, state: str, *, station_id: str | None = None) -> bool:
        """Set the state; with `station_id`, only while the work order is assigned to that station."""
        sql = "UPDATE workorders SET state = ?, updated_at = ? WHERE id = ?"
        params: tuple[Any, ...] = (state, iso_vn(), wo_id)
        if station_id is not None:
            sql, params = sql + " AND station_id = ?", (*params, station_id)
        with self.tx() as conn:
            return conn.execute(sql, params).rowcount == 1

    # -- uploads -------------------------------------------------------------------------------
    def open_upload(
        self,
        *,
        station_id: str,
        sha256: str,
        size: int,
        file_code: str | None,
        batch_uid: str | None,
        work_order_id: str | None,
        expected_sheets: int | None,
    ) -> dict:
        """The upload for this station and package hash: new, or the existing one (idempotent).

        Insert-or-nothing, then read: two servers opening the same upload at once both get the one row
        (PostgreSQL makes the second INSERT wait for the first and then do nothing)."""
        now = iso_vn()
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO uploads (id, station_id, sha256, size, file_code, batch_uid, work_order_id,"
                " expected_sheets, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)"
                # an expired upload of the same package starts again from nothing
                " ON CONFLICT (station_id, sha256) DO UPDATE SET state = 'open', received = 0,"
                " updated_at = excluded.updated_at WHERE uploads.state = 'expired'",
                (
                    uuid.uuid4().hex,
                    station_id,
                    sha256,
                    size,
                    file_code,
                    batch_uid,
                    work_order_id,
                    expected_sheets,
                    now,
                    now,
                ),
            )
            row = conn.execute(
                "SELECT * FROM uploads WHERE station_id = ? AND sha256 = ?", (station_id, sha256)
            ).fetchone()
            return dict(row)

    def find_upload(self, station_id: str, sha256: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM uploads WHERE station_id = ? AND sha256 = ?", (station_id, sha256))

    def open_upload_count(self, station_id: str) -> int:
        row = self.one("SELECT COUNT(*) AS n FROM uploads WHERE station_id = ? AND state = 'open'", (station_id,))
        return int(row["n"]) if row else 0

    def expire_uploads(self, before: str, *, station_id: str | None = None) -> list[str]:
        """Open uploads untouched since `before` (an iso_vn time) become 'expired'; returns their ids (the
        caller deletes their partial files). A station that comes back later simply opens a new upload."""
        sql = "SELECT id FROM uploads WHERE state = 'open' AND updated_at < ?"
        params: tuple[Any, ...] = (before,)
        if station_id is not None:
            sql, params = sql + " AND station_id = ?", (*params, station_id)
        with self.tx() as conn:
            ids = [r["id"] for r in conn.execute(sql, params).fetchall()]
            for upload_id in ids:
                conn.execute("UPDATE uploads SET state = 'expired', updated_at = ? WHERE id = ? AND state = 'open'",
                             (iso_vn(), upload_id))
        return ids

    def upload(self, upload_id: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM uploads WHERE id = ?", (upload_id,))

    def open_upload_ids(self) -> set[str]:
        return {r["id"] for r in self.query("SELECT id FROM uploads WHERE state = 'open'")}

    def set_received(self, upload_id: str, received: int) -> None:
        with self.tx() as conn:
            conn.execute(
                "UPDATE uploads SET received = ?, updated_at = ? WHERE id = ?", (received, iso_vn(), upload_id)
            )

    def finish_upload(self, upload_id: str, *, state: str, receipt: dict) -> bool:
        """Record the verdict and receipt once: False (nothing written) if the upload is already finished."""
        with self.tx() as conn:
            cur = conn.execute(
                "UPDATE uploads SET state = ?, receipt = ?, updated_at = ? WHERE id = ? AND state = 'open'",
                (state, json.dumps(receipt, ensure_ascii=False), iso_vn(), upload_id),
            )
            return cur.rowcount == 1


class ServerDB(Records):
    """The default backend: one SQLite file (WAL, synchronous=FULL), one connection per thread."""

    dialect = SQLITE
    errors = (sqlite3.Error,)

    def __init__(self, path: str | Path):
        super().__init__()
        from protocol.migrations import migrate_sqlite
        from server.records.migrations import RECORDS

        self.path = Path(path)
        self._local = threading.local()
        migrate_sqlite(self._conn(), self.path, RECORDS, label="server records")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_durable(self.path)
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with write_transaction(self._conn()) as conn:
            yield conn

    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn().execute(sql, params)]

    def one(self, sql: str, params: tuple = ()) -> dict[str, Any] | None:
        row = self._conn().execute(sql, params).fetchone()
        return dict(row) if row else None

    def upload_lock(self, upload_id: str) -> AbstractContextManager[Any]:
        # One SQLite file belongs to one server process, whose own per-upload locks already serialise.
        return nullcontext()

    def is_disk_full(self, exc: BaseException) -> bool:
        code = getattr(exc, "sqlite_errorcode", None)
        return isinstance(exc, sqlite3.OperationalError) and code == sqlite3.SQLITE_FULL

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
