"""The server's records in PostgreSQL, shared by several server processes (same methods as ServerDB).

Every statement comes from `server/records/db.py: Records`, written with `?` placeholders; `_PgConn` rewrites them
for psycopg. One connection per thread, autocommit outside `tx()`; transactions run at READ COMMITTED,
where the statements that must not race rely on what PostgreSQL guarantees there: `INSERT ... ON
CONFLICT DO NOTHING` waits for a concurrent insert of the same key and then does nothing, and an `UPDATE
... WHERE used_at IS NULL` re-checks its condition on the row another transaction just changed.
Work that spans many statements (writing a chunk, committing an upload) takes a session advisory lock per
upload, which PostgreSQL releases by itself if the server holding it dies.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from server.records.db import POSTGRES, Records

log = logging.getLogger("sohoa.server.db")
DISK_FULL = "53100"  # SQLSTATE disk_full


@functools.lru_cache(maxsize=256)
def pg_sql(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled). Our statements have no `?` in literals."""
    return sql.replace("%", "%%").replace("?", "%s")


class _PgConn:
    """A psycopg connection that takes the shared statements. Kept in a thread-local: when its thread
    ends, the last reference goes and the connection is closed (a server is not left holding one
    PostgreSQL backend per thread that ever ran)."""

    def __init__(self, conn: psycopg.Connection[dict[str, Any]]):
        self.raw = conn

    def __del__(self) -> None:
        raw = getattr(self, "raw", None)
        if raw is not None and not raw.closed:
            raw.close()

    def execute(self, sql: str, params: Iterable[Any] = ()) -> psycopg.Cursor[dict[str, Any]]:
        return self.raw.execute(pg_sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> psycopg.Cursor[dict[str, Any]]:
        cur = self.raw.cursor()
        cur.executemany(pg_sql(sql), [tuple(r) for r in rows])
        return cur


class PgServerDB(Records):
    dialect = POSTGRES
    errors = (psycopg.Error,)

    def __init__(self, url: str, *, backup_dir: Path | None = None):
        super().__init__()
        self.url = url
        self._local = threading.local()
        self._opened: weakref.WeakSet[_PgConn] = weakref.WeakSet()  # for close(); weak, see _PgConn
        self._opened_lock = threading.Lock()
        from protocol.migrations import migrate_postgres
        from server.records.migrations import RECORDS

        migrate_postgres(self._conn().raw, RECORDS, component="records", url=url, backup_dir=backup_dir)

    def _conn(self) -> _PgConn:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.raw.closed or conn.raw.broken:  # a restarted PostgreSQL: connect again
            raw = psycopg.connect(self.url, autocommit=True, row_factory=dict_row, connect_timeout=10)
            conn = self._local.conn = _PgConn(raw)
            with self._opened_lock:
                self._opened.add(conn)
        return conn

    @contextmanager
    def tx(self) -> Iterator[_PgConn]:
        conn = self._conn()
        with conn.raw.transaction():  # BEGIN; COMMIT, or ROLLBACK on an exception
            yield conn

    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        return list(self._conn().execute(sql, params).fetchall())

    def one(self, sql: str, params: tuple = ()) -> dict[str, Any] | None:
        return self._conn().execute(sql, params).fetchone()

    @contextmanager
    def upload_lock(self, upload_id: str) -> Iterator[None]:
        conn = self._conn()
        key = f"sohoa-upload:{upload_id}"
        conn.execute("SELECT pg_advisory_lock(hashtextextended(?, 0))", (key,))
        try:
            yield
        finally:
            try:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", (key,))
            except psycopg.Error:  # the connection is gone, and its session locks with it
                log.warning("could not release the lock of upload %s: connection lost", upload_id)

    def is_disk_full(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.Error) and exc.sqlstate == DISK_FULL

    def close(self) -> None:
        with self._opened_lock:
            opened = list(self._opened)
            self._opened.clear()
        for conn in opened:
            conn.raw.close()
        self._local = threading.local()
