"""Hồ sơ the archive returned for rework (#17.5, #18.9): the server's list kept on disk, reopening a sent batch
for a fix, and the new version's identity for the package.

- The list comes from GET /api/v1/rework (the sync worker fetches it at start, on every pass and when the
  MQTT notice `server/rework/<id>` arrives) and is saved atomically to `<data>/rework.json`, so a station
  without the server still shows what it has to redo.
- Reopening moves a SYNCED batch back to REVIEW (the only way out of SYNCED) and records, in the station
  database, which stored version it replaces and the defects mapped to this station's page ids (a defect
  names a document and a page within it; the pages of the document are the batch's own split). A station
  that no longer has the batch or its page files fetches the stored package first and rebuilds the batch
  from it (station.sync.rebuild), then reopens it the same way.
- Finishing a reopened batch builds the package under the same OBJID, RECORDSTATUS=REPLACEMENT, with PREMIS
  naming the replaced version (version_args): the archive stores it as the next version of the hồ sơ.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol.clock import iso_vn
from protocol.durable import write_atomic
from protocol.errors import UserError
from protocol.i18n import N_
from station.store import Batch, BatchState, Store
from station.sync import rebuild

log = logging.getLogger("sohoa.station.sync")

CACHE = "rework.json"
SCHEMA = """
CREATE TABLE IF NOT EXISTS rework (
  id INTEGER PRIMARY KEY,
  batch_id INTEGER NOT NULL REFERENCES batches(id),
  objid TEXT NOT NULL,
  previous_sha256 TEXT NOT NULL,
  previous_version INTEGER NOT NULL,
  defects TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT '',
  reopened_at TEXT NOT NULL,
  reopened_by TEXT NOT NULL,
  UNIQUE (batch_id, previous_sha256)
);
"""
_UUID = re.compile(r"uuid[-:]([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$")


class ReworkError(UserError):
    """A reopen that cannot be done; `.text(lang)` is what the operator sees."""

    status = 409
    key = "conflict"


# -- the list from the archive, on disk ------------------------------------------------------------
class ReworkCache:
    """The last list the archive sent, in `<data>/rework.json` (written atomically, fsynced)."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / CACHE

    def load(self) -> dict[str, Any]:
        """{"rework": [...], "outcomes": [...], "fetched_at": ... or None}; empty when never fetched or unreadable."""
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(saved.get("rework"), list) and isinstance(saved.get("outcomes"), list):
                return saved
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError):
            log.warning("rework list %s unreadable: ignored until the next fetch", self.path)
        return {"rework": [], "outcomes": [], "fetched_at": None}

    def save(self, listing: dict[str, Any]) -> dict[str, Any]:
        doc = {"rework": list(listing.get("rework") or []), "outcomes": list(listing.get("outcomes") or []),
               "fetched_at": iso_vn()}
        write_atomic(self.path, json.dumps(doc, ensure_ascii=False).encode("utf-8"))
        return doc


def refresh(client: Any, cache: ReworkCache) -> dict[str, Any]:
    """Fetch the station's list from the archive and keep it; the SyncError of an unreachable server is raised
    and the saved list stays as it was."""
    doc = cache.save(client.rework())
    if doc["rework"]:
        log.info("archive returned %d hồ sơ for rework: %s", len(doc["rework"]),
                 ", ".join(i.get("file_code") or i["objid"] for i in doc["rework"]))
    return doc


# -- reopening a batch ------------------------------------------------------------------------------
def _ensure(store: Store) -> None:
    with store.tx() as conn:  # one statement: executescript would commit the transaction half-way
        conn.execute(SCHEMA.strip().rstrip(";"))


def page_map(store: Store, batch: Batch) -> tuple[dict[str, list[int]], list[int]]:
    """doc_id -> the document's page ids in order, and every page id of the output in order."""
    docs: dict[str, list[int]] = {}
    ordered: list[int] = []
    for row in sorted(store.documents(batch["id"]), key=lambda r: r["record"].get("ordinal", 0)):
        ids = [int(i) for i in row["record"].get("page_ids") or []]
        docs[f"{batch['file_code']}.{row['record'].get('ordinal')}"] = ids
        ordered += ids
    return docs, ordered


def place_defects(store: Store, batch: Batch, defects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each defect with the station's `page_id` of the page it concerns (None: about the whole hồ sơ or
    document, or a page this station cannot find)."""
    docs, ordered = page_map(store, batch)
    out = []
    for d in defects:
        page, doc_id, page_id = d.get("page"), d.get("doc_id"), None
        ids = docs.get(doc_id) if doc_id else ordered
        if isinstance(page, int) and not isinstance(page, bool) and ids and 1 <= page <= len(ids):
            page_id = ids[page - 1]
        out.append({**d, "page_id": page_id})
    return out


def page_state(store: Store, page_id: int | None) -> dict[str, Any] | None:
    """What a fix changes on a page (deleted by a rescan-and-replace, turned, reprocessed), to tell later
    whether the page a defect is on was touched since the hồ sơ was reopened."""
    if page_id is None:
        return None
    row = store.one("SELECT deleted, rotation, sha256, derivative_sha256 FROM pages WHERE id = ?", (page_id,))
    return dict(row) if row else None


def batch_for(store: Store, item: dict[str, Any]) -> Batch | None:
    """The local batch an item of the archive's list is about (by the batch uid the upload carried)."""
    row = store.one("SELECT id FROM batches WHERE uid = ?", (item.get("batch_uid") or "",))
    return store.batch(row["id"]) if row else None


def reopened(store: Store, batch_id: int) -> dict[str, Any] | None:
    """The latest rework of this batch (what it replaces, the placed defects), or None. A read only: the
    review screen asks on every load, and must never queue behind the writers for it."""
    if store.one("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'rework'") is None:
        return None
    row = store.one("SELECT * FROM rework WHERE batch_id = ? ORDER BY id DESC LIMIT 1", (batch_id,))
    if row:
        row["defects"] = json.loads(row["defects"])
    return row


def reopen(store: Store, item: dict[str, Any], *, actor: str, fetch: Callable[[str, Path], Path] | None = None,
           data_dir: Path | None = None, station_id: str = "") -> Batch:
    """Move the batch an item of the rework list is about from SYNCED back to REVIEW, remembering the version
    it replaces and its defects on this station's pages. Returns the batch.

    When the batch, or a file of its pages, is no longer on this station, `fetch(objid, folder)` (the sync
    client's rework_package) downloads the stored package and station.sync.rebuild puts the batch back
    from it first; the reopen then goes on as for a local batch."""
    _ensure(store)
    batch = batch_for(store, item)
    if data_dir is not None and (batch is None or (batch["state"] == BatchState.SYNCED
                                                   and rebuild.pages_missing(store, data_dir, batch))):
        if fetch is None:
            raise ReworkError(N_("batch %(value)s: pages gone and no archive to fetch them from"),
                              value=item.get('batch_uid'))
        batch = _from_archive(store, item, fetch=fetch, data_dir=Path(data_dir), station_id=station_id,
                              actor=actor)
    if batch is None:
        raise ReworkError(N_("This station no longer has the pages of this hồ sơ (%(value)s) and is not connected to "
                             "the archive to fetch them again: check the connection and try again."),
                          value=item.get("batch_uid"))
    if batch["state"] != BatchState.SYNCED:
        current = reopened(store, batch["id"])
        if current and current["previous_sha256"] == item["sha256"]:
            return batch  # already reopened for this version: opening it again is a no-op
        raise ReworkError(N_("batch %(id)s is %(state)s, not a sent hồ sơ"), id=batch['id'], state=batch['state'])
    if not _UUID.search(item.get("objid") or ""):
        raise ReworkError(N_("OBJID '%(value)s' carries no package uuid"), value=item.get('objid'))
    placed = [dict(d, page_before=page_state(store, d["page_id"]))
              for d in place_defects(store, batch, list(item.get("defects") or []))]
    now = iso_vn()
    with store.tx() as conn:
        state = conn.execute("SELECT state FROM batches WHERE id = ?", (batch["id"],)).fetchone()["state"]
        if state != BatchState.SYNCED:
            raise ReworkError(N_("batch %(id)s changed meanwhile"), id=batch['id'])
        conn.execute(
            "INSERT INTO rework (batch_id, objid, previous_sha256, previous_version, defects, note, reopened_at,"
            " reopened_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (batch["id"], item["objid"], item["sha256"], int(item["version"]),
             json.dumps(placed, ensure_ascii=False), item.get("note") or "", now, actor),
        )
        conn.execute("UPDATE batches SET state = ?, updated_at = ? WHERE id = ?",
                     (BatchState.REVIEW, now, batch["id"]))
        Store._audit(conn, actor, "batch.rework", batch["id"], previous=BatchState.SYNCED.value,
                     objid=item["objid"], replaces=item["sha256"], version=item["version"], defects=len(placed))
    log.info("batch %s reopened for rework of %s v%s (%d defects)", batch["id"], item["objid"], item["version"],
             len(placed), extra={"batch": batch["id"]})
    return store.batch(batch["id"])


def _from_archive(store: Store, item: dict[str, Any], *, fetch: Callable[[str, Path], Path], data_dir: Path,
                  station_id: str, actor: str) -> Batch:
    """Download the stored package of `item` and rebuild its batch from it; the download is removed after."""
    from station.sync.client import SyncError

    try:
        package = fetch(item["objid"], data_dir / "rework")
    except SyncError as exc:
        raise ReworkError(N_("stored package of %(objid)s not downloaded: %(exc)s"),
                          objid=item['objid'], exc=exc) from exc
    try:
        return rebuild.rebuild(store, data_dir, item, package, station_id=station_id, actor=actor)
    finally:
        package.unlink(missing_ok=True)


def version_args(store: Store, batch_id: int) -> dict[str, Any]:
    """Keyword arguments for build_package: {} for a first version; for a reopened batch the same OBJID
    (its uuid), RECORDSTATUS=REPLACEMENT and the replaced version."""
    row = reopened(store, batch_id)
    if row is None:
        return {}
    found = _UUID.search(row["objid"])
    assert found is not None  # the objid of a package this station built
    return {"package_uuid": found.group(1), "status": "REPLACEMENT",
            "previous": {"sha256": row["previous_sha256"], "version": row["previous_version"]}}
