"""Work orders: import from an inventory, assign to stations, notify them, follow each to accepted.

The `workorders` table belongs to server/records/db.py (stations read it through GET /api/v1/workorders); this
module writes it through `db.tx()` and keeps what only the supervisor needs (priority flags, where a row
came from) in its own `workorder_meta` table. A work order's stage on the dashboard:

  new (in the pool, no station) -> assigned -> scanning (a station reports it open) -> scanned (the batch
  left OPEN) -> accepted | rejected (the archive's verdict, set by ingest)

Stations are told over MQTT (`server/workorders/<station id>`) but MQTT is only a nudge: a station that
missed it still finds the order over the sync API.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocol.clock import iso_vn
from protocol.errors import say
from protocol.i18n import N_
from protocol.topics import WorkOrderPayload
from server.workorders.inventory import FLAGS, Inventory, RowProblem

log = logging.getLogger(__name__)

Notify = Callable[[WorkOrderPayload], Any]
PRIORITY_ORDER = FLAGS  # damaged first, then permanent retention, then high use
SCANNED_STATES = ("REVIEW", "FINISHING", "SEALED", "SYNCING", "SYNCED", "REJECTED")




def priority_of(flags: tuple[str, ...] | list[str], order: tuple[str, ...] = PRIORITY_ORDER) -> int:
    """A score that sorts as the archive plans: each flag outranks every flag after it combined."""
    return sum(1 << (len(order) - 1 - i) for i, name in enumerate(order) if name in flags)


@dataclass
class ImportResult:
    total: int
    created: list[str] = field(default_factory=list)
    skipped: list[RowProblem] = field(default_factory=list)  # valid rows not imported (already ordered)
    problems: list[RowProblem] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "created": self.created, "dry_run": self.dry_run,
                "skipped": [p.to_dict() for p in self.skipped],
                "problems": [p.to_dict() for p in self.problems]}


def import_inventory(db: Any, inventory: Inventory, *, source: str = "", dry_run: bool = False,
                     notify: Notify | None = None) -> ImportResult:
    """Create a work order per valid row whose hồ sơ has none yet; bad rows are reported, never imported."""
    result = ImportResult(total=inventory.total, problems=list(inventory.problems), dry_run=dry_run)
    existing = {r["file_code"] for r in db.query("SELECT file_code FROM workorders")}
    known_fonds = {r["code"] for r in db.query("SELECT code FROM fonds")}
    stations = {r["id"] for r in db.query("SELECT id FROM stations WHERE revoked = 0")}
    todo = []
    for row in inventory.rows:
        if row.file_code in existing:
            result.skipped.append(RowProblem(row.row, "file_code", row.file_code,
                                             say(N_("The hồ sơ already has a work order: not imported again"))))
        elif row.station and row.station not in stations:
            result.problems.append(RowProblem(row.row, "station", row.station,
                                              say(N_("The station does not exist on the server"))))
        else:
            todo.append(row)
    if dry_run:
        result.created = [r.file_code for r in todo]
        return result
    now = iso_vn()
    notices = []
    with db.tx() as conn:  # all rows or none: a half-imported inventory is harder to reason about
        for row in todo:
            if row.record.fonds_code not in known_fonds:
                conn.execute("INSERT INTO fonds (code, name, archive_code, record) VALUES (?, ?, '', '{}')"
                             " ON CONFLICT (code) DO NOTHING",
                             (row.record.fonds_code, row.fonds_name or row.record.fonds_code))
                known_fonds.add(row.record.fonds_code)
            wo_id = f"WO-{uuid.uuid4().hex[:12].upper()}"
            conn.execute(
                "INSERT INTO workorders (id, fonds_code, file_code, record, expected_sheets, priority, station_id,"
                " state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (wo_id, row.record.fonds_code, row.file_code, json.dumps(row.record.to_dict(), ensure_ascii=False),
                 row.expected_sheets, priority_of(row.flags), row.station, "assigned" if row.station else "new",
                 now, now))
            conn.execute("INSERT INTO workorder_meta (id, flags, source, source_row) VALUES (?, ?, ?, ?)",
                         (wo_id, json.dumps(list(row.flags)), source, row.row))
            result.created.append(wo_id)
            if row.station:
                notices.append(_notice(row.station, wo_id, "assigned", row.record.fonds_code, row.file_code,
                                       row.record.title))
    _send(notify, notices)
    return result


def assign(db: Any, wo_ids: list[str], station_id: str | None, *, notify: Notify | None = None) -> list[str]:
    """Give work orders to a station (None: back to the pool); returns the ids changed.

    Orders already accepted are left alone. The old station is told `withdrawn`, the new one `assigned`.
    """
    if station_id is not None and not db.one("SELECT id FROM stations WHERE id = ? AND revoked = 0", (station_id,)):
        raise ValueError(f"unknown station {station_id!r}")
    changed, notices = [], []
    with db.tx() as conn:
        for wo_id in wo_ids:
            row = conn.execute("SELECT * FROM workorders WHERE id = ?" + db.dialect.for_update, (wo_id,)).fetchone()
            if row is None or row["state"] == "accepted" or row["station_id"] == station_id:
                continue
            state = "assigned" if station_id else "new"
            conn.execute("UPDATE workorders SET station_id = ?, state = ?, updated_at = ? WHERE id = ?",
                         (station_id, state, iso_vn(), wo_id))
            title = json.loads(row["record"]).get("title")
            if row["station_id"]:
                notices.append(_notice(row["station_id"], wo_id, "withdrawn", row["fonds_code"], row["file_code"],
                                       title))
            if station_id:
                notices.append(_notice(station_id, wo_id, "assigned", row["fonds_code"], row["file_code"], title))
            changed.append(wo_id)
    _send(notify, notices)
    return changed


def _notice(station_id: str, wo_id: str, action: str, fonds: str, code: str, title: str | None) -> WorkOrderPayload:
    return WorkOrderPayload(station_id=station_id, work_order_id=wo_id, action=action, fonds=fonds,
                            file_code=code, title=title)


def _send(notify: Notify | None, notices: list[WorkOrderPayload]) -> None:
    for notice in notices:
        if notify is None:
            continue
        try:
            notify(notice)
        except Exception:  # the order is stored; the station will find it over the API anyway
            log.exception("work order notice to %s failed", notice.station_id)


# ------------------------------------------------------------------------------------------- progress

class ProgressTracker:
    """Remembers, from the monitor's station tiles, how far each (station, batch) of a hồ sơ got.

    Every tile change written at once would be one fsync on the monitor's thread; instead a stage change
    (new hồ sơ, new batch state) is written at once and page counts wait for `flush()` (the dashboard's
    summary calls it) or the next stage change.
    """

    def __init__(self, db: Any):
        self.db = db
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], tuple[str, str | None, int]] = {}
        self._stages: dict[tuple[str, str], tuple[str, str | None]] = {}

    def on_change(self, change: dict[str, Any]) -> None:
        """A Monitor.subscribe_changes callback: quick; writes only when a hồ sơ's stage moved."""
        tile = change.get("station") if change.get("type") == "station" else None
        if not tile or not tile.get("batch") or not tile.get("file_code"):
            return
        key = (tile["station_id"], tile["batch"])
        stage_now = (tile["file_code"], tile.get("batch_state"))
        with self._lock:
            self._pending[key] = (*stage_now, int(tile.get("pages_captured") or 0))
            moved = self._stages.get(key) != stage_now
            self._stages[key] = stage_now
        if moved:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        now = iso_vn()
        with self.db.tx() as conn:
            conn.executemany(
                "INSERT INTO workorder_progress (station_id, batch, file_code, batch_state, pages_captured,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (station_id, batch) DO UPDATE SET"
                " file_code = excluded.file_code, batch_state = excluded.batch_state,"
                f" pages_captured = {self.db.dialect.greatest}(workorder_progress.pages_captured,"
                " excluded.pages_captured), updated_at = excluded.updated_at",
                [(sid, batch, code, state, pages, now) for (sid, batch), (code, state, pages) in pending.items()])


def stage(order: dict[str, Any], progress: dict[str, Any] | None) -> str:
    if order["state"] in ("accepted", "rejected"):
        return order["state"]
    if progress:
        return "scanned" if progress.get("batch_state") in SCANNED_STATES else "scanning"
    return "assigned" if order.get("station_id") else "new"


def overview(db: Any, catalog: Any = None) -> dict[str, Any]:
    """Every work order with its stage, pages scanned and sheets accepted; totals per fonds."""
    orders = db.query(
        "SELECT w.id, w.fonds_code, w.file_code, w.record, w.expected_sheets, w.priority, w.station_id, w.state,"
        " w.updated_at, COALESCE(m.flags, '[]') AS flags FROM workorders w LEFT JOIN workorder_meta m ON m.id = w.id"
        " ORDER BY w.priority DESC, w.created_at")
    progress = _progress_by_file(db)
    accepted = _accepted_sheets(catalog)
    fonds: dict[str, dict[str, Any]] = {}
    for order in orders:
        record = json.loads(order.pop("record"))
        order["title"] = record.get("title", "")
        order["flags"] = json.loads(order["flags"])
        prog = progress.get(order["file_code"])
        order["pages_scanned"] = int(prog["pages"]) if prog else 0
        order["stage"] = stage(order, prog)
        order["sheets_accepted"] = accepted.get(order["file_code"], order["expected_sheets"]
                                                if order["state"] == "accepted" else 0)
        total = fonds.setdefault(order["fonds_code"], {"fonds": order["fonds_code"], "orders": 0, "expected": 0,
                                                       "scanned": 0, "accepted": 0, "accepted_orders": 0})
        total["orders"] += 1
        total["expected"] += order["expected_sheets"]
        total["scanned"] += order["pages_scanned"]
        total["accepted"] += order["sheets_accepted"]
        total["accepted_orders"] += order["stage"] == "accepted"
    return {"orders": orders, "fonds": sorted(fonds.values(), key=lambda f: f["fonds"])}


def _progress_by_file(db: Any) -> dict[str, dict[str, Any]]:
    """Per hồ sơ, the batch that got furthest (most pages) and its state. Done here rather than with
    SQLite's bare-column MAX(), which PostgreSQL refuses; the table has one row per batch, so it is small."""
    best: dict[str, dict[str, Any]] = {}
    for row in db.query("SELECT file_code, pages_captured AS pages, batch_state FROM workorder_progress"
                        " ORDER BY station_id, batch"):
        if row["file_code"] not in best or row["pages"] > best[row["file_code"]]["pages"]:
            best[row["file_code"]] = row
    return best


def _accepted_sheets(catalog: Any) -> dict[str, int]:
    """Sheets the archive holds per hồ sơ: the catalog's current package (the receipt said accepted)."""
    if catalog is None:
        return {}
    with catalog._lock:  # the catalog shares one connection between threads
        rows = catalog.db.execute(
            "SELECT file_code, number_of_paper FROM packages WHERE superseded_by IS NULL").fetchall()
    return {code: int(sheets or 0) for code, sheets in rows}
