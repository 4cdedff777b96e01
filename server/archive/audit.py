"""The archive's access log: every view, download, export and decision, append-only.

Rows are only ever inserted (no code path updates or deletes them); on SQLite, triggers refuse UPDATE and
DELETE outright, on PostgreSQL rules turn them into no-ops, so even a bug elsewhere cannot rewrite history.
Admins read it on a page and export it as CSV (the export is itself logged).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from protocol.clock import iso_vn
from server.records.db import Records

ACTIONS = ("view_hoso", "view_document", "view_page", "download", "search", "export", "decision", "copy")

COLUMNS = ("id", "at", "actor", "action", "target", "address", "detail")


def record(db: Records, *, actor: str, action: str, target: str, address: str, detail: str = "") -> None:
    """Append one entry; `action` is one of ACTIONS."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO archive_audit (at, actor, action, target, address, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (iso_vn(), actor, action, target[:1000], address, detail[:2000]),
        )


@dataclass(frozen=True)
class Filter:
    """What an admin narrows the log to; empty fields match everything. Dates are YYYY-MM-DD (Vietnam time)."""

    actor: str = ""
    action: str = ""
    target: str = ""  # a part of the target (OBJID, document, copy id)
    since: str = ""
    until: str = ""

    def where(self) -> tuple[str, list[Any]]:
        parts, args = [], []
        if self.actor:
            parts.append("actor = ?")
            args.append(self.actor)
        if self.action:
            parts.append("action = ?")
            args.append(self.action)
        if self.target:
            parts.append("target LIKE ?")
            args.append("%" + self.target.replace("%", "").replace("_", "") + "%")
        if self.since:
            parts.append("at >= ?")
            args.append(self.since)
        if self.until:  # up to the end of that day: before the next day begins
            from datetime import date, timedelta

            parts.append("at < ?")
            args.append((date.fromisoformat(self.until) + timedelta(days=1)).isoformat())
        return (" AND ".join(parts) or "1 = 1"), args


def entries(db: Records, *, limit: int = 200, before: int | None = None,
            where: Filter | None = None) -> list[dict[str, Any]]:
    """Newest first; `before` pages back from an entry id."""
    cols = ", ".join(COLUMNS)
    sql, args = (where or Filter()).where()
    if before is not None:
        sql += " AND id < ?"
        args.append(before)
    return db.query(f"SELECT {cols} FROM archive_audit WHERE {sql} ORDER BY id DESC LIMIT ?", (*args, limit))


def to_csv(db: Records, where: Filter | None = None) -> str:
    """The log (or what `where` keeps), oldest first, as CSV (UTF-8 with BOM so spreadsheet programs read the
    diacritics)."""
    sql, args = (where or Filter()).where()
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in db.query(f"SELECT {', '.join(COLUMNS)} FROM archive_audit WHERE {sql} ORDER BY id", tuple(args)):
        writer.writerow([_cell(row[c]) for c in COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet: quote it (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
