"""The station database: batches (hồ sơ being digitised), pages, documents, sync queue, audit log.

SQLite in WAL mode with synchronous=FULL: a row that committed is on disk. Each thread gets its own
connection; rows are plain dicts. Every batch transition is one transaction with its audit row.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any, TypedDict, cast

import sqlite_utils

from protocol.clock import iso_vn
from protocol.errors import Conflict, NotFound
from protocol.i18n import N_
from protocol.sqlitetx import open_durable, write_transaction


class BatchState(StrEnum):
    OPEN = "OPEN"  # scanning
    REVIEW = "REVIEW"
    FINISHING = "FINISHING"  # OCR, PDF/A, signing
    SEALED = "SEALED"  # package built, queued for sync
    SYNCING = "SYNCING"
    SYNCED = "SYNCED"  # server verified and stored it
    REJECTED = "REJECTED"  # server said no; reasons kept, back to review


ALLOWED = {
    BatchState.OPEN: {BatchState.REVIEW},
    BatchState.REVIEW: {BatchState.OPEN, BatchState.FINISHING},
    BatchState.FINISHING: {BatchState.SEALED, BatchState.REVIEW},
    BatchState.SEALED: {BatchState.SYNCING},
    BatchState.SYNCING: {BatchState.SYNCED, BatchState.REJECTED, BatchState.SEALED},
    BatchState.REJECTED: {BatchState.REVIEW},
    BatchState.SYNCED: set(),
}


class StateError(Conflict, RuntimeError):
    """A transition the batch's state does not allow (the UI answers 409)."""


class ReadOnlyError(StateError):
    """A change to a hồ sơ whose package is built or sent: it is kept as sent (a change is a new version)."""

    key = "read_only"
    default = N_("This hồ sơ is packaged or sent to the archive, so it can only be viewed, not changed. To change "
                 "it, make a new version of the hồ sơ.")


# From sealing on, the package is what the archive gets: the batch is read-only (#17 will add new versions).
READ_ONLY = {"SEALED", "SYNCING", "SYNCED"}


SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
  id INTEGER PRIMARY KEY,
  uid TEXT NOT NULL UNIQUE,
  file_code TEXT NOT NULL,
  work_order_id TEXT,
  record TEXT NOT NULL,
  expected_sheets INTEGER,
  state TEXT NOT NULL,
  operator TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pages (
  id INTEGER PRIMARY KEY,
  batch_id INTEGER NOT NULL REFERENCES batches(id),
  seq INTEGER NOT NULL,
  sheet INTEGER NOT NULL,
  side TEXT NOT NULL,
  source TEXT NOT NULL,
  device TEXT NOT NULL,
  settings TEXT NOT NULL,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  dpi REAL NOT NULL,
  captured_at TEXT NOT NULL,
  position REAL NOT NULL,
  rotation INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  processed_at TEXT,
  processing TEXT,
  derivative_path TEXT,
  derivative_sha256 TEXT,
  blank INTEGER,
  flags TEXT NOT NULL DEFAULT '[]',
  UNIQUE (batch_id, seq)
);
CREATE TABLE IF NOT EXISTS documents (
  id INTEGER PRIMARY KEY,
  batch_id INTEGER NOT NULL REFERENCES batches(id),
  ordinal INTEGER NOT NULL,
  record TEXT NOT NULL,
  pdf_path TEXT,
  pdf_sha256 TEXT,
  page_count INTEGER,
  text TEXT,
  UNIQUE (batch_id, ordinal)
);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY,
  batch_id INTEGER NOT NULL REFERENCES batches(id),
  package_path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  receipt TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  batch_id INTEGER,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pages_batch ON pages(batch_id, position);
"""


class Batch(TypedDict):
    """A `batches` row with its record decoded: what Store.batch/batches return, JSON-shaped (the station's
    API sends it as it is)."""

    id: int
    uid: str
    file_code: str
    work_order_id: str | None
    record: dict[str, Any]
    expected_sheets: int | None
    state: str
    operator: str | None
    created_at: str
    updated_at: str


class Page(TypedDict):
    """A `pages` row with its JSON columns decoded: what Store.page/pages return, JSON-shaped."""

    id: int
    batch_id: int
    seq: int
    sheet: int
    side: str
    source: str
    device: str
    settings: dict[str, Any]
    path: str
    sha256: str
    width: int
    height: int
    dpi: float
    captured_at: str
    position: float
    rotation: int
    deleted: int
    processed_at: str | None
    processing: dict[str, Any] | None
    derivative_path: str | None
    derivative_sha256: str | None
    blank: int | None
    flags: list[Any]


class Store:
    """One station database file; safe to share between threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        from protocol.migrations import Migration, migrate_sqlite

        migrate_sqlite(self._conn(), self.path, [
            Migration(1, "first release (0.1.0)", SCHEMA),
            Migration(2, "outbox found by state (sync worker)",
                      "CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state);"),
        ], label="station")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_durable(self.path, foreign_keys=True)
            self._local.conn = conn
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        return sqlite_utils.Database(self._conn())

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: writers queue instead of failing)."""
        with write_transaction(self._conn()) as conn:
            yield conn

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self._conn().execute(sql, params)]

    def one(self, sql: str, params: tuple | dict = ()) -> dict[str, Any] | None:
        row = self._conn().execute(sql, params).fetchone()
        return dict(row) if row else None

    # -- audit ---------------------------------------------------------------------------------
    @staticmethod
    def _audit(conn: sqlite3.Connection, actor: str, action: str, batch_id: int | None, **detail: Any) -> None:
        conn.execute(
            "INSERT INTO audit (at, actor, action, batch_id, detail) VALUES (?, ?, ?, ?, ?)",
            (iso_vn(), actor, action, batch_id, json.dumps(detail, ensure_ascii=False)),
        )

    def audit(self, actor: str, action: str, batch_id: int | None = None, **detail: Any) -> None:
        with self.tx() as conn:
            self._audit(conn, actor, action, batch_id, **detail)

    # -- batches -------------------------------------------------------------------------------
    def create_batch(self, *, file_code: str, record: dict, expected_sheets: int | None,
                     work_order_id: str | None, operator: str) -> Batch:
        now = iso_vn()
        with self.tx() as conn:
            cur = conn.execute(
                "INSERT INTO batches (uid, file_code, work_order_id, record, expected_sheets, state, operator,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (str(uuid.uuid4()).upper(), file_code, work_order_id, json.dumps(record, ensure_ascii=False),
                 expected_sheets, BatchState.OPEN, operator, now, now),
            )
            batch_id = cur.lastrowid
            assert batch_id is not None  # set by every INSERT
            self._audit(conn, operator, "batch.open", batch_id, file_code=file_code)
        return self.batch(batch_id)

    def batch(self, batch_id: int) -> Batch:
        row = self.one("SELECT * FROM batches WHERE id = ?", (batch_id,))
        if row is None:
            raise NotFound(N_("no batch %(batch_id)s"), batch_id=batch_id)
        row["record"] = json.loads(row["record"])
        return cast(Batch, row)

    def batches(self) -> list[Batch]:
        rows = self.query("SELECT * FROM batches ORDER BY id DESC")
        for row in rows:
            row["record"] = json.loads(row["record"])
        return cast(list[Batch], rows)

    def transition(self, batch_id: int, to: BatchState, *, actor: str, **detail: Any) -> None:
        with self.tx() as conn:
            row = conn.execute("SELECT state FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None:
                raise NotFound(N_("no batch %(batch_id)s"), batch_id=batch_id)
            current = BatchState(row["state"])
            if to not in ALLOWED[current]:
                raise StateError(N_("batch %(batch_id)s is %(current)s, cannot go to %(to)s"),
                                 batch_id=batch_id, current=current, to=to)
            conn.execute("UPDATE batches SET state = ?, updated_at = ? WHERE id = ?", (to, iso_vn(), batch_id))
            self._audit(conn, actor, f"batch.{to.lower()}", batch_id, previous=current.value, **detail)

    def check_editable(self, batch_id: int) -> None:
        """ReadOnlyError when the batch's package is built or sent; KeyError when there is no such batch."""
        row = self.one("SELECT state FROM batches WHERE id = ?", (batch_id,))
        if row is None:
            raise NotFound(N_("no batch %(batch_id)s"), batch_id=batch_id)
        if row["state"] in READ_ONLY:
            raise ReadOnlyError(N_("batch %(batch_id)s is %(state)s: read-only"), batch_id=batch_id, state=row['state'])

    def update_record(self, batch_id: int, record: dict, *, actor: str) -> None:
        self.check_editable(batch_id)
        with self.tx() as conn:
            conn.execute("UPDATE batches SET record = ?, updated_at = ? WHERE id = ?",
                         (json.dumps(record, ensure_ascii=False), iso_vn(), batch_id))
            self._audit(conn, actor, "batch.record", batch_id)

    # -- pages ---------------------------------------------------------------------------------
    def next_seq(self, batch_id: int) -> int:
        row = self.one("SELECT COALESCE(MAX(seq), 0) AS n FROM pages WHERE batch_id = ?", (batch_id,))
        return int(row["n"]) + 1 if row else 1

    def next_sheet(self, batch_id: int) -> int:
        row = self.one("SELECT COALESCE(MAX(sheet), 0) AS n FROM pages WHERE batch_id = ?", (batch_id,))
        return int(row["n"]) + 1 if row else 1

    def add_page(self, page: dict[str, Any], *, actor: str) -> int:
        """Journal a captured page. Call only after its file is fsynced in place."""
        page = dict(page)
        page["settings"] = json.dumps(page.get("settings", {}), ensure_ascii=False)
        page.setdefault("position", float(page["seq"]))
        cols = ", ".join(page)
        marks = ", ".join("?" for _ in page)
        with self.tx() as conn:
            cur = conn.execute(f"INSERT INTO pages ({cols}) VALUES ({marks})", tuple(page.values()))
            self._audit(conn, actor, "page.captured", page["batch_id"], seq=page["seq"], sha256=page["sha256"])
            return int(cur.lastrowid or 0)  # set by every INSERT

    def pages(self, batch_id: int, *, include_deleted: bool = False) -> list[Page]:
        sql = "SELECT * FROM pages WHERE batch_id = ?"
        if not include_deleted:
            sql += " AND deleted = 0"
        rows = self.query(sql + " ORDER BY position, seq", (batch_id,))
        for row in rows:
            row["settings"] = json.loads(row["settings"])
            row["flags"] = json.loads(row["flags"])
            row["processing"] = json.loads(row["processing"]) if row["processing"] else None
        return cast(list[Page], rows)

    def page(self, page_id: int) -> Page:
        row = self.one("SELECT * FROM pages WHERE id = ?", (page_id,))
        if row is None:
            raise NotFound(N_("no page %(page_id)s"), page_id=page_id)
        row["settings"] = json.loads(row["settings"])
        row["flags"] = json.loads(row["flags"])
        row["processing"] = json.loads(row["processing"]) if row["processing"] else None
        return cast(Page, row)

    def unprocessed_pages(self) -> list[dict[str, Any]]:
        return self.query("SELECT id, batch_id FROM pages WHERE processed_at IS NULL AND deleted = 0 ORDER BY id")

    def set_processing(self, page_id: int, *, result: dict, derivative_path: str, derivative_sha256: str,
                       blank: bool, flags: list[dict]) -> None:
        with self.tx() as conn:
            # reprocessing (after a turn, at Finish) keeps what the operator decided: flags accepted stay
            # accepted, and a page kept or set apart by hand stays so (its blank differs from the detector's)
            old = conn.execute("SELECT processing, blank, flags FROM pages WHERE id = ?", (page_id,)).fetchone()
            if old is not None and old["processing"]:
                accepted = {f.get("code"): f for f in json.loads(old["flags"] or "[]") if f.get("accepted_by")}
                flags = [
                    {**f, "accepted_by": accepted[f["code"]]["accepted_by"],
                     "accepted_at": accepted[f["code"]].get("accepted_at")} if f.get("code") in accepted else f
                    for f in flags
                ]
                if bool(old["blank"]) != bool(json.loads(old["processing"]).get("blank")):
                    blank = bool(old["blank"])
            conn.execute(
                "UPDATE pages SET processed_at = ?, processing = ?, derivative_path = ?, derivative_sha256 = ?,"
                " blank = ?, flags = ? WHERE id = ?",
                (iso_vn(), json.dumps(result, ensure_ascii=False), derivative_path, derivative_sha256,
                 int(blank), json.dumps(flags, ensure_ascii=False), page_id),
            )

    # -- documents -----------------------------------------------------------------------------
    def set_documents(self, batch_id: int, documents: list[dict], *, actor: str) -> None:
        """Replace the split of a batch into documents (each {ordinal, record})."""
        with self.tx() as conn:
            conn.execute("DELETE FROM documents WHERE batch_id = ?", (batch_id,))
            for doc in documents:
                conn.execute("INSERT INTO documents (batch_id, ordinal, record) VALUES (?, ?, ?)",
                             (batch_id, doc["ordinal"], json.dumps(doc["record"], ensure_ascii=False)))
            self._audit(conn, actor, "documents.split", batch_id, count=len(documents))

    def documents(self, batch_id: int) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM documents WHERE batch_id = ? ORDER BY ordinal", (batch_id,))
        for row in rows:
            row["record"] = json.loads(row["record"])
        return rows

    def set_document_output(self, doc_id: int, *, pdf_path: str, pdf_sha256: str, page_count: int,
                            text: str) -> None:
        with self.tx() as conn:
            conn.execute(
                "UPDATE documents SET pdf_path = ?, pdf_sha256 = ?, page_count = ?, text = ? WHERE id = ?",
                (pdf_path, pdf_sha256, page_count, text, doc_id))

    # -- sync queue ----------------------------------------------------------------------------
    def enqueue_package(self, batch_id: int, *, package_path: str, sha256: str, size: int, actor: str) -> int:
        now = iso_vn()
        with self.tx() as conn:
            row = conn.execute("SELECT state FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None or row["state"] != BatchState.FINISHING:
                raise StateError(N_("batch %(batch_id)s is not finishing: cannot seal it"), batch_id=batch_id)
            cur = conn.execute(
                "INSERT INTO outbox (batch_id, package_path, sha256, size, state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'queued', ?, ?)", (batch_id, package_path, sha256, size, now, now))
            conn.execute("UPDATE batches SET state = ?, updated_at = ? WHERE id = ?",
                         (BatchState.SEALED, now, batch_id))
            self._audit(conn, actor, "batch.sealed", batch_id, package=package_path, sha256=sha256)
            return int(cur.lastrowid or 0)  # set by every INSERT

    def outbox(self, *, states: tuple[str, ...] = ("queued",)) -> list[dict[str, Any]]:
        marks = ", ".join("?" for _ in states)
        return self.query(f"SELECT * FROM outbox WHERE state IN ({marks}) ORDER BY id", states)

    def outbox_item(self, item_id: int) -> dict[str, Any]:
        row = self.one("SELECT * FROM outbox WHERE id = ?", (item_id,))
        if row is None:
            raise NotFound(N_("no outbox item %(item_id)s"), item_id=item_id)
        return row

    def outbox_attempt(self, item_id: int, *, error: str | None) -> None:
        with self.tx() as conn:
            conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?",
                         (error, iso_vn(), item_id))

    def outbox_done(self, item_id: int, *, accepted: bool, receipt: dict) -> None:
        """Record the server's verdict and move the batch to SYNCED or REJECTED, atomically."""
        now = iso_vn()
        state = "accepted" if accepted else "rejected"
        batch_state = BatchState.SYNCED if accepted else BatchState.REJECTED
        with self.tx() as conn:
            row = conn.execute("SELECT batch_id FROM outbox WHERE id = ?", (item_id,)).fetchone()
            conn.execute("UPDATE outbox SET state = ?, receipt = ?, updated_at = ? WHERE id = ?",
                         (state, json.dumps(receipt, ensure_ascii=False), now, item_id))
            conn.execute("UPDATE batches SET state = ?, updated_at = ? WHERE id = ?",
                         (batch_state, now, row["batch_id"]))
            self._audit(conn, "sync", f"batch.{batch_state.lower()}", row["batch_id"], receipt=receipt)
