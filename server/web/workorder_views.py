"""Work-order pages: the list with stages, inventory import with its report of bad rows, assignment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from protocol.errors import say, with_texts
from protocol.i18n import N_
from protocol.inputs import InputError, get_list, get_str
from protocol.topics import Payload
from server.accounts.auth import require_role
from server.pages import ctx, lang
from server.web.blueprint import bp
from server.workorders import InventoryError, assign, import_inventory, overview, read_inventory
from sohoa.weberrors import refuse

MAX_UPLOAD = 20 * 1024 * 1024


def _notify() -> Callable[[Payload], Any] | None:
    monitor = ctx().monitor
    return monitor.publish if monitor is not None else None


def _page(result: Any = None, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    c = ctx()
    stations = [s for s in c.db.stations() if not s["revoked"]]
    return render_template("workorders.html", work=overview(c.db, c.catalog), stations=stations,
                           result=with_texts(result, lang()),
                           error=error), status


@bp.get("/workorders")
def workorders() -> ResponseReturnValue:
    return _page()


@bp.get("/api/v1/web/workorders")
def workorders_json() -> ResponseReturnValue:
    return jsonify(overview(ctx().db, ctx().catalog))


@bp.post("/workorders/import")
def workorders_import() -> ResponseReturnValue:
    upload = request.files.get("inventory")
    if upload is None or not upload.filename:
        return _page(error=_("Choose an inventory file (CSV or XLSX), then Import."), status=400)
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _page(error=_("File too large (20 MB at most): split the inventory into several files."), status=413)
    try:
        inventory = read_inventory(Path(upload.filename), data)
    except InventoryError as exc:
        return _page(error=exc.text(lang()), status=400)
    result = import_inventory(ctx().db, inventory, source=upload.filename, dry_run=bool(request.form.get("dry_run")),
                              notify=_notify())
    if request.headers.get("Accept", "").startswith("application/json"):
        return jsonify(result.to_dict()), 200
    return _page(result=result.to_dict(), status=200 if not result.problems else 422)


@bp.post("/workorders/assign")
def workorders_assign() -> ResponseReturnValue:
    body = request.get_json(silent=True) if request.is_json else None
    body = body if isinstance(body, dict) else {}
    ids = request.form.getlist("wo") or get_list(body, "ids")
    if not all(isinstance(i, str) for i in ids):
        raise InputError(N_("ids must be a list of work order ids (strings)"))
    station = request.form.get("station") or get_str(body, "station", max_len=64) or None
    try:
        changed = assign(ctx().db, list(ids), station, notify=_notify())
    except ValueError as exc:
        return refuse(400, "bad_station", say(N_("There is no such station (%(error)s)."), error=str(exc)))
    if request.is_json:
        return jsonify({"changed": changed})
    return _page(result={"assigned": len(changed)})


@bp.post("/workorders/reopen")
@require_role("admin")
def workorders_reopen() -> ResponseReturnValue:
    """An accepted work order offered to its station again (a hồ sơ to be scanned once more)."""
    body = request.get_json(silent=True) if request.is_json else None
    wo_id = request.form.get("reopen") or get_str(body if isinstance(body, dict) else {}, "id", max_len=64)
    if not any(w["id"] == wo_id for w in ctx().db.workorders()):
        return refuse(404, "not_found", say(N_("There is no work order '%(wo)s'."), wo=wo_id))
    ctx().db.set_workorder_state(wo_id, "assigned")
    if request.is_json:
        return jsonify({"reopened": wo_id})
    return _page(result={"reopened": wo_id})
