"""The one way to open a durable SQLite file and the one SQLite write transaction, for the station's store,
the server's records, the catalogue and the migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def open_durable(path: Path, *, foreign_keys: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode with synchronous=FULL (a row that committed is on disk), rows by name,
    transactions only where write_transaction opens them, a 30 s wait for another writer's lock."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    if foreign_keys:
        conn.execute("PRAGMA foreign_keys=ON")
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE: the write lock is taken up front, so with another writer this waits its turn (busy
    timeout) instead of failing when a transaction that read first tries to upgrade. Rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
