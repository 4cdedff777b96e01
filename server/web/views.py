"""Dashboard and archive search pages, plus the JSON and server-sent events they read.

`bp` is the one blueprint of the supervisor's UI (server/web/blueprint.py); importing this module also
registers the login, account and work-order pages on it.
"""

from __future__ import annotations

from flask import Response, jsonify, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue

from protocol.i18n import N_
from server.labels import script_texts
from server.pages import ctx, lang
from server.web import live
from server.web import login_views as _login_views  # noqa: F401  (registers its routes on bp)
from server.web import workorder_views as _workorder_views  # noqa: F401
from server.web.blueprint import bp
from sohoa.weberrors import refuse

MAX_SHOWN = 200  # a refused query is echoed back only this long

__all__ = ["bp"]


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    return render_template("dashboard.html", data=live.dashboard_data(ctx()), texts=script_texts())


@bp.get("/api/v1/dashboard")
def dashboard_json() -> ResponseReturnValue:
    return jsonify(live.dashboard_data(ctx()))


@bp.get("/events")
def events() -> ResponseReturnValue:
    """Server-sent events: `snapshot`, then `delta` (tiles, telemetry events) and `summary` messages."""
    from flask import current_app, g

    from sohoa.streams import RETRY_AFTER_S

    limiter = current_app.extensions["sohoa_streams"]
    key = g.user.name
    if not limiter.acquire(key):  # streams never take the threads that serve uploads and pages
        resp, status = refuse(429, "too_many_streams", N_("Too many live views are open; try again later."))
        return resp, status, {"Retry-After": str(RETRY_AFTER_S)}
    body = limiter.guarded(key, stream_with_context(live.stream(ctx())))
    return Response(body, mimetype="text/event-stream", headers={"Cache-Control": "no-cache",
                                                                 "X-Accel-Buffering": "no"})


@bp.get("/search")
def search() -> ResponseReturnValue:
    from server.catalogue.catalog import QueryError

    q = request.args.get("q", "").strip()
    try:
        hits = ctx().catalog.search(q, limit=50) if q else []
    except QueryError as exc:  # too long, too many words, or past the time budget: say what to change
        message = exc.text(lang())
        return render_template("search.html", q=q[:MAX_SHOWN], hits=[], error=message), exc.status
    return render_template("search.html", q=q, hits=hits)
