"""What the archive tells each station about the hồ sơ it made: the ones returned for rework (with the defects
of the validated `return` decision) and the ones accepted or archived.

A hồ sơ belongs to the station that sent its latest station-made version (the accepted upload with that
version's SHA-256), so after a rework the station that sent the new version is the one told; versions the
archive makes itself (the biên bản filed on acceptance) do not change whose it is. The one thing kept here is
that index, `archive_makers` (records migration 6: objid → station, batch, work order), written on every
accepted upload, so a station's list is one indexed query; the states (states.py), decisions (decisions.py)
and the store are the truth for the rest, read on each call.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from protocol.api import Receipt
from protocol.clock import iso_vn
from server.archive import states
from server.records.db import Records

log = logging.getLogger("sohoa.server.archive")

OUTCOMES = ("accepted", "archived")
DEFECT_KEYS = ("class", "kind", "objid", "doc_id", "page", "note")


MAKER_COLUMNS = "station_id, batch_uid, work_order_id, file_code"


def _maker(db: Records, objid: str) -> dict[str, Any] | None:
    """The station, batch, work order and file code of the upload that brought the newest version a station
    sent (archive_makers, kept by `record_maker`); the server's own versions never change it."""
    return db.one(f"SELECT {MAKER_COLUMNS} FROM archive_makers WHERE objid = ?", (objid,))


def record_maker(db: Records, receipt: Receipt) -> None:
    """After an accepted upload: its station becomes the hồ sơ's maker (the index of station_view)."""
    objid, station_id = receipt.objid or "", receipt.station_id or ""
    if receipt.verdict != "accepted" or not objid or not station_id:
        return
    upload = db.one("SELECT batch_uid, work_order_id, file_code FROM uploads WHERE station_id = ? AND sha256 = ?",
                    (station_id, receipt.sha256)) or {}
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO archive_makers (objid, station_id, sha256, batch_uid, work_order_id, file_code, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (objid) DO UPDATE SET station_id = excluded.station_id,"
            " sha256 = excluded.sha256, batch_uid = excluded.batch_uid, work_order_id = excluded.work_order_id,"
            " file_code = excluded.file_code, updated_at = excluded.updated_at",
            (objid, station_id, receipt.sha256, upload.get("batch_uid"), upload.get("work_order_id"),
             upload.get("file_code") or receipt.file_code, iso_vn()),
        )


def _return_decision(db: Records, objid: str) -> dict[str, Any] | None:
    """The latest validated `return` decision that names `objid`."""
    rows = db.query(  # the LIKE narrows to decisions naming it (its JSON list holds it quoted); checked below
        "SELECT id, objids, defects, note, validated_at FROM acceptance_decisions"
        " WHERE decision = 'return' AND validated_by IS NOT NULL AND objids LIKE ? ORDER BY validated_at DESC",
        (f'%"{objid}"%',),
    )
    for row in rows:
        if objid in json.loads(row["objids"]):
            return row
    return None


def _defects(row: dict[str, Any], objid: str) -> list[dict[str, Any]]:
    """The decision's defects on this hồ sơ (a defect without an objid belongs to a one-hồ sơ decision)."""
    named = json.loads(row["objids"])
    out = []
    for d in json.loads(row["defects"]):
        if d.get("objid") == objid or (not d.get("objid") and named == [objid]):
            item = {k: d.get(k) for k in DEFECT_KEYS}
            item["objid"] = objid
            out.append(item)
    return out


def station_view(db: Records, store: Any, station_id: str) -> dict[str, list[dict[str, Any]]]:
    """{"rework": [...], "outcomes": [...]} for one station: only hồ sơ whose latest version it sent."""
    rows = db.query(
        f"SELECT s.objid, s.state, s.changed_at, {', '.join('m.' + c for c in MAKER_COLUMNS.split(', '))}"
        " FROM archive_makers m JOIN archive_states s ON s.objid = m.objid"
        " WHERE m.station_id = ? AND s.state IN ('returned', 'accepted', 'archived') ORDER BY s.changed_at, s.objid",
        (station_id,),
    )
    rework, outcomes = [], []
    for row in rows:
        latest = store.get(row["objid"])
        if latest is None:
            continue
        maker = row
        item = {
            "objid": row["objid"],
            "file_code": maker["file_code"],
            "version": latest.version,
            "sha256": latest.sha256,
            "batch_uid": maker["batch_uid"],
            "work_order_id": maker["work_order_id"],
            "state": row["state"],
            "changed_at": row["changed_at"],
        }
        if row["state"] in OUTCOMES:
            outcomes.append(item)
            continue
        decision = _return_decision(db, row["objid"])
        item["decision_id"] = decision["id"] if decision else None
        item["note"] = decision["note"] if decision else ""
        item["defects"] = _defects(decision, row["objid"]) if decision else []
        rework.append(item)
    return {"rework": rework, "outcomes": outcomes}


def may_fetch(db: Records, store: Any, station_id: str, objid: str) -> bool:
    """A station may download a stored package only while it is on that station's rework list."""
    maker = _maker(db, objid)
    return bool(maker and maker["station_id"] == station_id and store.get(objid) is not None
                and states.state_of(db, [objid])[objid] == "returned")


def new_version_stored(db: Records, store: Any, receipt: Receipt) -> None:
    """After an accepted upload: a new version of a hồ sơ that was through acceptance starts a new round
    (`received`); the first version needs nothing (no row means `received`)."""
    record_maker(db, receipt)
    objid = receipt.objid or ""
    if receipt.verdict != "accepted" or not objid:
        return
    versions = store.versions(objid)
    if len(versions) < 2 or versions[-1].sha256 != receipt.sha256:
        return
    if states.state_of(db, [objid])[objid] != states.DEFAULT:
        states.set_state(db, objid, states.DEFAULT, by=f"station:{receipt.station_id}")
        log.info("%s: version %d stored, back to %s for a new acceptance round", objid, versions[-1].version,
                 states.DEFAULT)


def announce(db: Records, objids: list[str], state: str) -> None:
    """Tell each maker station over MQTT that a decision about its hồ sơ was validated (the sync API stays the
    truth; a lost notice is caught by the station's periodic fetch). Runs only inside the server app, whose
    monitor holds the MQTT connection; never raises."""
    try:
        from flask import current_app, has_app_context

        if not has_app_context():
            return
        ctx = current_app.extensions.get("sohoa")
        monitor = getattr(ctx, "monitor", None)
        if monitor is None or ctx is None:
            return
        from protocol.topics import ReworkPayload

        for objid in objids:
            maker = _maker(db, objid)
            if maker is None:
                continue
            monitor.publish(ReworkPayload(station_id=maker["station_id"], objid=objid, state=state,
                                          file_code=maker["file_code"], batch=maker["batch_uid"]))
    except Exception:  # a notice never undoes a decision
        log.exception("rework notice for %s failed", objids)
