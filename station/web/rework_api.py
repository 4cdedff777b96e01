"""The archive's rework list on the station (#18.9, #17.5): which hồ sơ came back and why, reopening one, and
the defects of a reopened hồ sơ on its pages. Read from the list the sync worker keeps on disk
(station.sync.rework), so it shows the same whether or not the server answers right now. Same login rule and
error answers as every /api endpoint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from protocol.i18n import N_
from protocol.inputs import get_str
from sohoa.weberrors import refuse
from station.store import Batch, BatchState
from station.sync import rework
from station.web.api import _body
from station.web.api import _needs_login as _api_rules
from station.web.session import actor

bp = Blueprint("api_rework", __name__, url_prefix="/api")


def _station() -> Any:
    return current_app.extensions["station"]


@bp.before_request
def _needs_login() -> None:
    _api_rules()


def defect_names() -> dict[str, str]:
    """The archive's defect kinds (server.archive.decisions.DEFECTS) in the operator's words."""
    return {"missing_page": _("Missing page"), "wrong_hoso": _("Page of another hồ sơ"),
            "unreadable": _("Unreadable"), "text_cut_off": _("Text cut off"),
            "wrong_metadata": _("Wrong description"), "wrong_order": _("Wrong page order"),
            "wrong_orientation": _("Wrong way up"), "skew": _("Skewed"), "crop": _("Badly cropped")}


def class_names() -> dict[str, str]:
    return {"critical": _("Critical"), "major": _("Major"), "minor": _("Minor")}


def _shown(store: Any, batch: Batch | None, defects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each defect with its words, where it is, and (for a reopened hồ sơ) whether its page changed since."""
    names, classes = defect_names(), class_names()
    docs: dict[str, int] = {}
    if batch is not None:
        for row in store.documents(batch["id"]):
            docs[f"{batch['file_code']}.{row['record'].get('ordinal')}"] = row["record"].get("ordinal")
    out = []
    for d in defects:
        where = []
        if d.get("doc_id"):
            where.append(_("Document %(n)s", n=docs.get(d["doc_id"], d["doc_id"].rsplit(".", 1)[-1])))
        if d.get("page"):
            where.append(_("page %(n)s", n=d["page"]))
        before, now = d.get("page_before"), rework.page_state(store, d.get("page_id"))
        out.append({
            "class": d.get("class"), "kind": d.get("kind"), "page_id": d.get("page_id"),
            "doc_id": d.get("doc_id"), "page": d.get("page"), "note": d.get("note") or "",
            "label": names.get(d.get("kind") or "", d.get("kind") or ""),
            "class_label": classes.get(d.get("class") or "", d.get("class") or ""),
            "where": ", ".join(where) or _("Whole hồ sơ"),
            "changed": bool(before and now and before != now),
        })
    return out


def _status(store: Any, item: dict[str, Any], batch: Batch | None) -> str:
    if batch is None:
        return "missing"
    done = rework.reopened(store, batch["id"])
    if done and done["previous_sha256"] == item["sha256"]:
        return "resent" if batch["state"] in (BatchState.SEALED, BatchState.SYNCING, BatchState.SYNCED) \
            else "reworking"
    return "returned"


STATUS_WORDS = {"returned": N_("Returned by the archive: fix and send again"),
                "reworking": N_("Being fixed on this station"), "resent": N_("Fixed version sent to the archive"),
                "missing": N_("Returned by the archive: reopening fetches its pages from the archive")}  # N_: marked


@bp.get("/rework")
def rework_list() -> ResponseReturnValue:
    """The archive's list as last fetched: {"rework": [...], "outcomes": [...], "fetched_at"}; each returned hồ
    sơ with its local batch, its status here and its defects in words."""
    station = _station()
    store = station.store
    saved = rework.ReworkCache(station.config.data_dir).load()
    items = []
    for item in saved["rework"]:
        batch = rework.batch_for(store, item)
        status = _status(store, item, batch)
        items.append({
            "objid": item["objid"], "file_code": item.get("file_code"), "version": item.get("version"),
            "batch_id": batch["id"] if batch else None, "title": batch["record"].get("title", "") if batch else "",
            "status": status, "status_label": _(STATUS_WORDS[status]), "note": item.get("note") or "",
            "changed_at": item.get("changed_at"),
            "defects": _shown(store, batch, rework.place_defects(store, batch, item.get("defects") or [])
                              if batch else list(item.get("defects") or [])),
        })
    outcomes = []
    for item in saved["outcomes"]:
        batch = rework.batch_for(store, item)
        outcomes.append({"objid": item["objid"], "state": item["state"], "version": item.get("version"),
                         "batch_id": batch["id"] if batch else None, "file_code": item.get("file_code")})
    return jsonify({"rework": items, "outcomes": outcomes, "fetched_at": saved.get("fetched_at")})


@bp.post("/rework/reopen")
def reopen() -> ResponseReturnValue:
    """{"objid"} of an item on the saved list → the sent batch goes back to review for the fix."""
    station = _station()
    objid = get_str(_body(), "objid", max_len=200)
    item = next((i for i in rework.ReworkCache(station.config.data_dir).load()["rework"] if i["objid"] == objid),
                None)
    if item is None:
        return refuse(404, "not_found", N_("This hồ sơ is not on the archive's rework list."))
    try:
        client = station.sync_client
        batch = rework.reopen(station.store, item, actor=actor(), data_dir=station.config.data_dir,
                              fetch=client.rework_package if client else None,
                              station_id=station.config.station_id)
    except rework.ReworkError as exc:
        return refuse(409, "conflict", exc.said)
    return jsonify({"batch_id": batch["id"], "state": batch["state"], "url": f"/batch/{batch['id']}/review"})


@bp.get("/batches/<int:batch_id>/rework")
def batch_rework(batch_id: int) -> ResponseReturnValue:
    """The defects of a reopened hồ sơ on its pages: {"rework": false} for any other."""
    store = _station().store
    row = rework.reopened(store, batch_id)
    if row is None:
        return jsonify({"rework": False, "defects": []})
    batch = store.batch(batch_id)
    return jsonify({"rework": True, "version": row["previous_version"] + 1, "note": row["note"],
                    "objid": row["objid"], "defects": _shown(store, batch, row["defects"])})
