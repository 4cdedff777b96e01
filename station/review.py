"""What an operator does to the pages of a hồ sơ before finishing it.

Each action is one SQLite transaction with its audit row (who, when, what), so a reload or a restart never
loses or half-applies one. Nothing is ever removed: deletion is a flag, restorable until the hồ sơ is
finished; a rescanned page replaces the old one in place and the old one stays, deleted, in the journal.
Page order is the `position` column; operations renumber the whole hồ sơ (1, 2, 3...) so that positions
stay small and readable in the audit log.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from protocol.clock import iso_vn
from protocol.errors import Forbidden, NotFound
from protocol.i18n import N_
from protocol.inputs import InputError
from station.store import BatchState, StateError, Store

#: A separator sheet carries a QR code whose payload starts with this; it starts a new document.
SEPARATOR_PREFIX = "SOHOA-SEP"
EDITABLE = (BatchState.OPEN, BatchState.REVIEW)


def _editable(conn: sqlite3.Connection, batch_id: int) -> None:
    row = conn.execute("SELECT state FROM batches WHERE id = ?", (batch_id,)).fetchone()
    if row is None:
        raise NotFound(N_("no batch %(batch_id)s"), batch_id=batch_id)
    if row["state"] not in EDITABLE:
        raise StateError(N_("batch %(batch_id)s is %(state)s: pages can no longer be changed"),
                         batch_id=batch_id, state=row['state'])


def _page(conn: sqlite3.Connection, page_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM pages WHERE id = ?", (page_id,)).fetchone()
    if row is None:
        raise NotFound(N_("no page %(page_id)s"), page_id=page_id)
    _editable(conn, row["batch_id"])
    return row


def _order(conn: sqlite3.Connection, batch_id: int) -> list[int]:
    return [r["id"] for r in conn.execute(
        "SELECT id FROM pages WHERE batch_id = ? ORDER BY position, seq", (batch_id,))]


def _renumber(conn: sqlite3.Connection, order: list[int]) -> None:
    conn.executemany("UPDATE pages SET position = ? WHERE id = ?", [(float(i), pid) for i, pid in enumerate(order, 1)])


def rotate(store: Store, page_id: int, *, by: int, actor: str) -> int:
    """Turn a page clockwise by a multiple of 90°; returns its new rotation (0, 90, 180, 270)."""
    if by % 90:
        raise InputError(N_("rotation must be a multiple of 90 degrees"))
    with store.tx() as conn:
        page = _page(conn, page_id)
        rotation = (page["rotation"] + by) % 360
        conn.execute("UPDATE pages SET rotation = ? WHERE id = ?", (rotation, page_id))
        store._audit(conn, actor, "page.rotate", page["batch_id"], page=page_id, rotation=rotation)
    return rotation


def set_deleted(store: Store, page_id: int, deleted: bool, *, actor: str) -> None:
    """Soft delete (or restore) one page."""
    with store.tx() as conn:
        page = _page(conn, page_id)
        batch_id = page["batch_id"]
        conn.execute("UPDATE pages SET deleted = ? WHERE id = ?", (int(deleted), page_id))
        if deleted:  # a document's first page: remembered in the audit row, so a restore starts it again
            starts = [json.loads(r["record"]).get("ordinal") for r in conn.execute(
                "SELECT record FROM documents WHERE batch_id = ? ORDER BY ordinal", (batch_id,))
                if (json.loads(r["record"]).get("page_ids") or [None])[0] == page_id]
            store._audit(conn, actor, "page.delete", batch_id, page=page_id,
                         **({"starts": starts[0]} if starts else {}))
            follow_split(conn, batch_id)
        else:
            last = conn.execute("SELECT detail FROM audit WHERE batch_id = ? AND action = 'page.delete'"
                                " AND json_extract(detail, '$.page') = ? ORDER BY id DESC LIMIT 1",
                                (batch_id, page_id)).fetchone()
            ordinal = json.loads(last["detail"]).get("starts") if last else None
            store._audit(conn, actor, "page.restore", batch_id, page=page_id)
            follow_split(conn, batch_id, restart={ordinal: page_id} if ordinal else None)


def set_blank(store: Store, page_id: int, blank: bool, *, actor: str) -> None:
    """Keep a page the blank detector set apart (blank=False), or set one apart by hand."""
    with store.tx() as conn:
        page = _page(conn, page_id)
        conn.execute("UPDATE pages SET blank = ? WHERE id = ?", (int(blank), page_id))
        store._audit(conn, actor, "page.blank" if blank else "page.not_blank", page["batch_id"], page=page_id)
        follow_split(conn, page["batch_id"])


def move(store: Store, batch_id: int, page_ids: list[int], *, after: int | None, actor: str) -> list[int]:
    """Put `page_ids` (in that order) right after page `after` (None: at the start); returns the new order."""
    with store.tx() as conn:
        _editable(conn, batch_id)
        order = _order(conn, batch_id)
        if not page_ids or not set(page_ids) <= set(order) or len(set(page_ids)) != len(page_ids):
            raise InputError(N_("pages to move must be distinct pages of this hồ sơ"))
        if after is not None and (after not in order or after in page_ids):
            raise InputError(N_("page %(after)s is not a place to move to"), after=after)
        rest = [pid for pid in order if pid not in page_ids]
        at = 0 if after is None else rest.index(after) + 1
        new = rest[:at] + list(page_ids) + rest[at:]
        _renumber(conn, new)
        store._audit(conn, actor, "pages.move", batch_id, pages=list(page_ids), after=after)
        follow_split(conn, batch_id)
    return new


def reorder(store: Store, batch_id: int, order: list[int], *, actor: str) -> list[int]:
    """Set the order of the pages listed (a drag in the UI); pages not listed keep their relative places
    after them."""
    with store.tx() as conn:
        _editable(conn, batch_id)
        current = _order(conn, batch_id)
        if len(set(order)) != len(order) or not set(order) <= set(current):
            raise InputError(N_("order must list distinct pages of this hồ sơ"))
        new = list(order) + [pid for pid in current if pid not in order]
        _renumber(conn, new)
        store._audit(conn, actor, "pages.reorder", batch_id, order=list(order))
        follow_split(conn, batch_id)
    return new


def replace(store: Store, batch_id: int, old_ids: list[int], new_ids: list[int], *, actor: str) -> list[int]:
    """Rescan in place: the new pages take the place of the old ones, which are soft-deleted."""
    with store.tx() as conn:
        _editable(conn, batch_id)
        order = _order(conn, batch_id)
        if not old_ids or not new_ids or set(old_ids) & set(new_ids) or not set(old_ids + new_ids) <= set(order):
            raise InputError(N_("old and new pages must be distinct pages of this hồ sơ"))
        at = min(order.index(pid) for pid in old_ids)
        rest = [pid for pid in order if pid not in new_ids]
        at = rest.index(order[at])
        new = rest[:at] + list(new_ids) + rest[at:]
        _renumber(conn, new)
        conn.executemany("UPDATE pages SET deleted = 1 WHERE id = ?", [(pid,) for pid in old_ids])
        store._audit(conn, actor, "pages.replace", batch_id, old=list(old_ids), new=list(new_ids))
        follow_split(conn, batch_id, replaced=dict(zip(old_ids, new_ids, strict=False)))
    return new


def _live_order(conn: sqlite3.Connection, batch_id: int) -> list[int]:
    return [r["id"] for r in conn.execute(
        "SELECT id FROM pages WHERE batch_id = ? AND deleted = 0 AND blank = 0 ORDER BY position, seq", (batch_id,))]


def follow_split(conn: sqlite3.Connection, batch_id: int, *, replaced: dict[int, int] | None = None,
                 restart: dict[int, int] | None = None) -> None:
    """Keep the saved split into documents true to the pages after a page is moved, deleted, restored,
    kept or rescanned. A document is where it starts: each keeps its first page that is still in the
    output (a rescanned first page hands over to its replacement) and runs to the next document's start;
    pages before the first start belong to the first document. A document whose pages are all gone stays,
    empty, for the operator to remove (the finish checklist names it): its typed metadata is not dropped."""
    rows = conn.execute("SELECT id, record FROM documents WHERE batch_id = ? ORDER BY ordinal", (batch_id,)).fetchall()
    if not rows:
        return
    live = _live_order(conn, batch_id)
    at = {pid: i for i, pid in enumerate(live)}
    records = [json.loads(r["record"]) for r in rows]
    starts: list[int | None] = []
    for rec in records:
        ids = [(replaced or {}).get(pid, pid) for pid in rec.get("page_ids") or []]
        first = (restart or {}).get(rec.get("ordinal"))  # a restored first page starts its document again
        if first is not None and first in at:
            ids = [first] + [pid for pid in ids if pid != first]
        starts.append(next((pid for pid in ids if pid in at), None))  # its first page still in the output
    cuts = sorted({at[s] for s in starts if s is not None})
    owner = {}  # start index → document
    for i, s in enumerate(starts):
        if s is not None and at[s] not in owner:
            owner[at[s]] = i
    groups: dict[int, list[int]] = {i: [] for i in range(len(records))}
    first_doc = owner[cuts[0]] if cuts else 0
    current = first_doc
    for i, pid in enumerate(live):
        if i in owner:
            current = owner[i]
        groups[current].append(pid)
    for row, rec, i in zip(rows, records, range(len(records)), strict=True):
        if rec.get("page_ids") != groups[i]:
            rec["page_ids"] = groups[i]
            conn.execute("UPDATE documents SET record = ? WHERE id = ?",
                         (json.dumps(rec, ensure_ascii=False), row["id"]))


def start_document(store: Store, batch_id: int, page_ids: list[int], *, actor: str) -> list[list[int]]:
    """The picked pages become one document of their own: gathered behind the first of them, a document
    starting there and the next one starting right after them. Returns the documents' pages."""
    with store.tx() as conn:
        _editable(conn, batch_id)
        live = _live_order(conn, batch_id)
        picked = [pid for pid in live if pid in set(page_ids)]
        if not picked or len(picked) != len(set(page_ids)):
            raise InputError(N_("pick pages of this hồ sơ that go into the output (not deleted, not blank)"))
        order = _order(conn, batch_id)
        rest = [pid for pid in order if pid not in picked[1:]]
        at = rest.index(picked[0]) + 1
        _renumber(conn, rest[:at] + picked[1:] + rest[at:])
        live = _live_order(conn, batch_id)
        rows = conn.execute("SELECT id, record FROM documents WHERE batch_id = ? ORDER BY ordinal",
                            (batch_id,)).fetchall()
        records = [json.loads(r["record"]) for r in rows] or [{"page_ids": live}]
        follow = picked[-1]
        after = live[live.index(follow) + 1] if live.index(follow) + 1 < len(live) else None
        # every document keeps its start; the picked pages and the page after them start documents too
        starts = []
        for rec in records:
            starts.append(next((pid for pid in rec.get("page_ids") or [] if pid in live), None))
        new_records = list(records)
        for cut in (picked[0], after):
            if cut is not None and cut not in starts:
                starts.append(cut)
                new_records.append({"page_ids": [cut]})
        pairs = sorted(((live.index(s) if s is not None else len(live), i) for i, s in enumerate(starts)))
        ordered = [new_records[i] for _, i in pairs]
        conn.execute("DELETE FROM documents WHERE batch_id = ?", (batch_id,))
        for n, rec in enumerate(ordered, 1):
            rec["ordinal"] = n
            rec.setdefault("page_ids", [])
            conn.execute("INSERT INTO documents (batch_id, ordinal, record) VALUES (?, ?, ?)",
                         (batch_id, n, json.dumps(rec, ensure_ascii=False)))
        follow_split(conn, batch_id)
        store._audit(conn, actor, "documents.start", batch_id, pages=picked)
    return [d["record"]["page_ids"] for d in store.documents(batch_id)]


def accept_flags(store: Store, page_id: int, *, actor: str) -> list[dict[str, Any]]:
    """The operator looked at a QC-flagged page and keeps it as it is."""
    with store.tx() as conn:
        page = _page(conn, page_id)
        flags = json.loads(page["flags"])
        at = iso_vn()
        for flag in flags:
            flag.setdefault("accepted_by", actor)
            flag.setdefault("accepted_at", at)
        conn.execute("UPDATE pages SET flags = ? WHERE id = ?", (json.dumps(flags, ensure_ascii=False), page_id))
        store._audit(conn, actor, "page.accept_flags", page["batch_id"], page=page_id,
                     codes=[f.get("code") for f in flags])
    return flags


def accept_kind(store: Store, batch_id: int, code: str, *, actor: str) -> list[int]:
    """Accept one kind of flag (by code) on every page of the hồ sơ at once, after the operator looked at
    the batch's summary; returns the pages changed. One transaction, one audit row listing them."""
    with store.tx() as conn:
        _editable(conn, batch_id)
        at = iso_vn()
        changed = []
        for row in conn.execute("SELECT id, flags FROM pages WHERE batch_id = ? AND deleted = 0", (batch_id,)):
            flags = json.loads(row["flags"])
            hit = [f for f in flags if f.get("code") == code and not f.get("accepted_by")]
            for flag in hit:
                flag["accepted_by"], flag["accepted_at"] = actor, at
            if hit:
                conn.execute("UPDATE pages SET flags = ? WHERE id = ?",
                             (json.dumps(flags, ensure_ascii=False), row["id"]))
                changed.append(row["id"])
        store._audit(conn, actor, "page.accept_kind", batch_id, code=code, pages=changed)
    return changed


def unresolved(store: Store, batch_id: int) -> list[dict[str, Any]]:
    """Pages that will go into the output and still carry a QC flag nobody accepted."""
    out = []
    for page in store.pages(batch_id):
        if page["blank"]:
            continue  # set apart: not in the output, shown in its own list
        open_flags = [f for f in page["flags"] if not f.get("accepted_by")]
        if open_flags:
            out.append({"page_id": page["id"], "seq": page["seq"], "flags": open_flags})
    return out


def override(store: Store, batch_id: int, *, reason: str, actor: str, role: str) -> None:
    """A supervisor lets the hồ sơ finish with unresolved flags. Logged with the reason."""
    if role not in ("supervisor", "admin"):
        raise Forbidden(N_("Only a supervisor or an administrator may let a hồ sơ with flagged pages finish."))
    if not reason.strip():
        raise InputError(N_("Write the reason for letting it finish."))
    with store.tx() as conn:
        _editable(conn, batch_id)
        flags = [u["page_id"] for u in unresolved(store, batch_id)]
        store._audit(conn, actor, "qc.override", batch_id, reason=reason.strip(), pages=flags)


def overridden(store: Store, batch_id: int) -> bool:
    """True when a supervisor overrode the flags after the last page was captured or changed."""
    row = store.one(
        "SELECT MAX(id) AS o FROM audit WHERE batch_id = ? AND action = 'qc.override'", (batch_id,))
    if not row or row["o"] is None:
        return False
    later = store.one(
        "SELECT COUNT(*) AS n FROM audit WHERE batch_id = ? AND id > ? AND action IN"
        " ('page.captured', 'pages.replace', 'page.restore', 'page.not_blank')", (batch_id, row["o"]))
    return later is not None and later["n"] == 0


def can_finish(store: Store, batch_id: int) -> bool:
    return not unresolved(store, batch_id) or overridden(store, batch_id)


def split_by_separators(store: Store, batch_id: int, *, actor: str) -> list[list[int]]:
    """Groups of page ids, a new group at each separator sheet; separator pages are soft-deleted (they are
    not part of any document, and stay restorable). Blank pages belong to no group."""
    groups: list[list[int]] = [[]]
    separators = []
    for page in store.pages(batch_id):
        qr = (page["processing"] or {}).get("qr") or []
        if any(str(code).startswith(SEPARATOR_PREFIX) for code in qr):
            separators.append(page["id"])
            if groups[-1]:
                groups.append([])
            continue
        if not page["blank"]:
            groups[-1].append(page["id"])
    if separators:
        with store.tx() as conn:
            _editable(conn, batch_id)
            conn.executemany("UPDATE pages SET deleted = 1 WHERE id = ?", [(pid,) for pid in separators])
            store._audit(conn, actor, "pages.separators", batch_id, pages=separators)
    return [g for g in groups if g]


def split_at(store: Store, batch_id: int, starts: list[int]) -> list[list[int]]:
    """Groups of the output pages (not deleted, not blank), a new group starting at each page in `starts`
    (a tap between two pages in the UI)."""
    groups: list[list[int]] = [[]]
    for page in store.pages(batch_id):
        if page["blank"]:
            continue
        if page["id"] in starts and groups[-1]:
            groups.append([])
        groups[-1].append(page["id"])
    return [g for g in groups if g]
