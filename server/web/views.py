"""Dashboard and archive search pages, plus the JSON and server-sent events they read."""

from __future__ import annotations

import json
import queue
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request

bp = Blueprint("web", __name__)


def _ctx() -> Any:
    return current_app.extensions["sohoa"]


def dashboard_data() -> dict[str, Any]:
    ctx = _ctx()
    uploads = ctx.db.query(
        "SELECT id, station_id, file_code, state, updated_at, receipt FROM uploads ORDER BY updated_at DESC LIMIT 20")
    for row in uploads:
        receipt = json.loads(row.pop("receipt") or "null")
        row["reasons"] = receipt["reasons"] if receipt else []
    return {
        "stations": ctx.monitor.snapshot() if ctx.monitor else {},
        "workorders": ctx.db.workorders(),
        "uploads": uploads,
        "packages": ctx.catalog.packages()[:20],
    }


@bp.get("/")
def dashboard():
    return render_template("dashboard.html", data=dashboard_data())


@bp.get("/api/v1/dashboard")
def dashboard_json():
    return jsonify(dashboard_data())


@bp.get("/events")
def events():
    """Server-sent events: a fresh dashboard snapshot whenever the monitor sees a change."""
    ctx = _ctx()
    changes: queue.Queue = queue.Queue(maxsize=100)
    if ctx.monitor:
        ctx.monitor.subscribe_changes(lambda *_: changes.full() or changes.put_nowait(1))

    def stream():
        with current_app.app_context():
            yield f"data: {json.dumps(dashboard_data(), ensure_ascii=False)}\n\n"
        last = time.monotonic()
        while True:
            try:
                changes.get(timeout=5)
            except queue.Empty:
                if time.monotonic() - last > 15:
                    yield ": keep-alive\n\n"
                    last = time.monotonic()
                continue
            with app.app_context():
                yield f"data: {json.dumps(dashboard_data(), ensure_ascii=False)}\n\n"

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return Response(stream(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


@bp.get("/search")
def search():
    q = request.args.get("q", "").strip()
    hits = _ctx().catalog.search(q, limit=50) if q else []
    return render_template("search.html", q=q, hits=hits)
