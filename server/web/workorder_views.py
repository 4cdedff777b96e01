"""Work-order pages: the list with stages, inventory import with its report of bad rows, assignment."""

from __future__ import annotations

from pathlib import Path

from flask import jsonify, render_template, request

from protocol.inputs import InputError, get_list, get_str
from server.accounts.auth import require_role
from server.pages import ctx, lang, t
from server.web import supervisor_texts as _supervisor_texts  # noqa: F401  (its texts in the one table)
from server.web.blueprint import bp
from server.workorders import InventoryError, assign, import_inventory, overview, read_inventory

MAX_UPLOAD = 20 * 1024 * 1024


def _notify():
    monitor = ctx().monitor
    return monitor.publish if monitor is not None else None


def _page(result=None, error=None, status: int = 200):
    c = ctx()
    stations = [s for s in c.db.stations() if not s["revoked"]]
    return render_template("workorders.html", work=overview(c.db, c.catalog), stations=stations, result=result,
                           error=error), status


@bp.get("/workorders")
def workorders():
    return _page()


@bp.get("/api/v1/web/workorders")
def workorders_json():
    return jsonify(overview(ctx().db, ctx().catalog))


@bp.post("/workorders/import")
def workorders_import():
    upload = request.files.get("inventory")
    if upload is None or not upload.filename:
        return _page(error=t("import_no_file"), status=400)
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _page(error=t("import_too_big"), status=413)
    try:
        inventory = read_inventory(Path(upload.filename), data)
    except InventoryError as exc:
        return _page(error=exc.message_vi if lang() == "vi" else str(exc), status=400)
    result = import_inventory(ctx().db, inventory, source=upload.filename, dry_run=bool(request.form.get("dry_run")),
                              notify=_notify())
    if request.headers.get("Accept", "").startswith("application/json"):
        return jsonify(result.to_dict()), 200
    return _page(result=result.to_dict(), status=200 if not result.problems else 422)


@bp.post("/workorders/assign")
def workorders_assign():
    body = request.get_json(silent=True) if request.is_json else None
    body = body if isinstance(body, dict) else {}
    ids = request.form.getlist("wo") or get_list(body, "ids")
    if not all(isinstance(i, str) for i in ids):
        raise InputError("ids must be a list of work order ids (strings)")
    station = request.form.get("station") or get_str(body, "station", max_len=64) or None
    try:
        changed = assign(ctx().db, list(ids), station, notify=_notify())
    except ValueError as exc:
        return jsonify({"error": "bad_station", "message": str(exc), "message_vi": "Trạm không tồn tại"}), 400
    if request.is_json:
        return jsonify({"changed": changed})
    return _page(result={"assigned": len(changed)})


@bp.post("/workorders/reopen")
@require_role("admin")
def workorders_reopen():
    """An accepted work order offered to its station again (a hồ sơ to be scanned once more)."""
    body = request.get_json(silent=True) if request.is_json else None
    wo_id = request.form.get("reopen") or get_str(body if isinstance(body, dict) else {}, "id", max_len=64)
    if not any(w["id"] == wo_id for w in ctx().db.workorders()):
        return jsonify({"error": "not_found", "message": f"no work order {wo_id!r}",
                        "message_vi": "Không có lệnh số hóa này"}), 404
    ctx().db.set_workorder_state(wo_id, "assigned")
    if request.is_json:
        return jsonify({"reopened": wo_id})
    return _page(result={"reopened": wo_id})
