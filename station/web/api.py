"""The station's JSON API: batches, scanning, documents, finishing. The UI and the demo use only this."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, request, send_file

bp = Blueprint("api", __name__, url_prefix="/api")


def _station() -> Any:
    return current_app.extensions["station"]


def _actor() -> str:
    return request.headers.get("X-Operator", "operator")


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.get("/status")
def status():
    return jsonify(_station().status())


@bp.get("/workorders")
def workorders():
    station = _station()
    if not station.sync_client:
        return jsonify({"workorders": [], "message_vi": "Trạm chưa được kết nối với máy chủ lưu trữ."})
    from station.sync.client import SyncError

    try:
        return jsonify({"workorders": station.sync_client.workorders()})
    except SyncError as exc:
        return jsonify({"workorders": [], "message": str(exc),
                        "message_vi": "Không kết nối được máy chủ lưu trữ; thử lại sau."}), 503


@bp.get("/batches")
def batches():
    return jsonify({"batches": _station().store.batches()})


@bp.post("/batches")
def open_batch():
    body = _body()
    batch = _station().open_batch(record=body.get("record") or {}, expected_sheets=body.get("expected_sheets"),
                                  work_order_id=body.get("work_order_id"), operator=_actor())
    return jsonify(batch), 201


@bp.get("/batches/<int:batch_id>")
def batch(batch_id: int):
    station = _station()
    row = station.store.batch(batch_id)
    row["pages"] = station.store.pages(batch_id)
    row["documents"] = station.store.documents(batch_id)
    row["finishing"] = station.finishing.get(batch_id)
    row["error"] = station.last_error.get(batch_id)
    row["outbox"] = station.store.query("SELECT id, state, attempts, last_error, receipt FROM outbox"
                                        " WHERE batch_id = ? ORDER BY id", (batch_id,))
    return jsonify(row)


@bp.post("/batches/<int:batch_id>/scan")
def scan(batch_id: int):
    station = _station()
    body = _body()
    kind = body.get("kind", "sane")
    options: dict[str, Any] = {}
    if kind == "sane":
        options["device"] = body.get("device") or station.config.device
    elif kind == "import":
        options["folder"] = _import_folder(station, str(body.get("folder", "")))
    else:
        return jsonify({"error": "bad_request", "message": f"unknown source kind {kind!r}",
                        "message_vi": "Nguồn quét không hợp lệ."}), 400
    station.scan(batch_id, kind=kind, options=options, request=body.get("request") or {}, actor=_actor())
    return jsonify({"ok": True}), 202


def _import_folder(station: Any, name: str) -> Path:
    """Import folders live under <data>/import/; a name from the request never escapes it."""
    from station.service import data_path

    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise KeyError(f"import folder {name!r}")
    path = data_path(station.config, f"import/{name}")
    if not path.is_dir():
        raise KeyError(f"import folder {name!r}")
    return path


@bp.post("/batches/<int:batch_id>/wait")
def wait(batch_id: int):
    timeout = min(float(_body().get("timeout", 60)), 600)
    idle = _station().wait_idle(timeout)
    return jsonify({"idle": idle, "scanner": str(getattr(_station().capture.state, "value", ""))})


@bp.post("/batches/<int:batch_id>/review")
def review(batch_id: int):
    _station().to_review(batch_id, actor=_actor())
    return jsonify({"ok": True})


@bp.post("/batches/<int:batch_id>/documents")
def documents(batch_id: int):
    docs = _body().get("documents")
    if not isinstance(docs, list) or not docs:
        return jsonify({"error": "bad_request", "message": "documents must be a non-empty list",
                        "message_vi": "Cần ít nhất một tài liệu."}), 400
    _station().set_documents(batch_id, docs, actor=_actor())
    return jsonify({"ok": True})


@bp.post("/batches/<int:batch_id>/finish")
def finish(batch_id: int):
    _station().finish(batch_id, actor=_actor())
    return jsonify({"ok": True}), 202


@bp.get("/pages/<int:page_id>/image")
def page_image(page_id: int):
    from station.service import data_path

    station = _station()
    page = station.store.page(page_id)
    rel = page["derivative_path"] if request.args.get("processed") and page["derivative_path"] else page["path"]
    return send_file(data_path(station.config, rel), mimetype="image/png")
