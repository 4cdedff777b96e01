"""Enrollment over HTTP: `POST /api/v1/enroll` for stations (a code, no account) and the admin's station page.

The API endpoint lives on its own blueprint (`api_bp`): it has no session, so neither login nor CSRF apply;
a per-address limiter slows code guessing instead. The admin pages are added to the web blueprint so its
guard (login, admin role, CSRF on POST) covers them; import this module before that blueprint is registered.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from protocol.errors import Message, say
from protocol.i18n import N_
from server.accounts import auth, enrollment
from server.pages import ctx, lang
from server.web.blueprint import bp
from sohoa.weberrors import refuse

log = logging.getLogger("sohoa.server.enrollment")
api_bp = Blueprint("enroll", __name__)
ENROLL_LIMITER_KEY = "sohoa_enroll_limiter"

def broker_sync() -> enrollment.BrokerSync | None:
    return current_app.extensions.get(enrollment.BROKER_SYNC_KEY)


# ------------------------------------------------------------------------------------------ station API

@api_bp.record_once
def _setup(state: Any) -> None:
    # Per client address: 10 wrong codes in 10 minutes, then wait (60 bits leave nothing to guess online).
    from sohoa.limits import AttemptLimiter

    state.app.extensions[ENROLL_LIMITER_KEY] = AttemptLimiter(free=10, base_s=60.0, per_address=10)


def _refuse(status: int, code: str, message: str | Message, headers: dict[str, str] | None = None) -> Any:
    resp, status = refuse(status, code, message)
    resp.headers.update(headers or {})
    return resp, status


@api_bp.post("/api/v1/enroll")
def enroll() -> ResponseReturnValue:
    """{code, station_id?} → the station's identity: API token, MQTT account, receipt key, server CA."""
    limiter = current_app.extensions[ENROLL_LIMITER_KEY]  # sohoa.limits.AttemptLimiter
    address = request.remote_addr or "?"
    key = f"enroll:{address}"  # both limiter keys per address: no global lock-out anyone could trigger
    wait = limiter.retry_after(key, address)
    if wait > 0:
        seconds = int(wait) + 1
        return _refuse(429, "rate_limited", say(N_("too many wrong codes: retry in %(seconds)s s"), seconds=seconds),
                       {"Retry-After": str(seconds)})
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("code"), str) or not (
            body.get("station_id") is None or isinstance(body.get("station_id"), str)):
        return _refuse(400, "bad_request", N_("send a JSON object {code, station_id?}"))
    try:
        identity = enrollment.redeem(ctx(), body["code"][:64], station_id=body.get("station_id") or None)
    except enrollment.EnrollmentError as exc:
        limiter.failed(key, address)
        log.warning("enrollment refused from %s: %s", address, exc)
        return _refuse(409 if exc.code == "station_mismatch" else 403, exc.code, exc.said)
    sync = broker_sync()
    if sync is not None:
        try:
            sync.apply(ctx().db)
        except Exception:  # the station is enrolled on the API; the admin re-syncs the broker
            log.exception("broker accounts not updated after enrolling %s", identity["station_id"])
    resp = jsonify(identity)
    resp.headers["Cache-Control"] = "no-store"  # secrets: never in a proxy's cache
    return resp


# ---------------------------------------------------------------------------------------- admin pages

def _page(*, status: int = 200, **extra: Any) -> tuple[str, int]:
    import datetime

    pending = []
    for row in enrollment.pending_codes(ctx().db):
        expires = datetime.datetime.fromtimestamp(row["expires_at"]).astimezone().isoformat(timespec="minutes")
        pending.append({**row, "expires": expires})
    values = {"stations": ctx().db.stations(), "pending": pending, "code": None, "error": None, "notice": None,
              "server_url": ctx().config.public_url or request.host_url.rstrip("/"), "ca_sha": None}
    values.update(extra)
    return render_template("stations.html", **values), status


@bp.get("/stations")
@auth.require_role("admin")
def stations() -> ResponseReturnValue:
    return _page()


@bp.get("/api/v1/web/stations")
@auth.require_role("admin")
def stations_json() -> ResponseReturnValue:
    return jsonify({"stations": ctx().db.stations(), "pending": enrollment.pending_codes(ctx().db)})


@bp.post("/stations/codes")
@auth.require_role("admin")
def station_code() -> ResponseReturnValue:
    station_id = request.form.get("station_id", "").strip().lower()
    try:
        hours = int(request.form.get("hours") or 24)
        if not 1 <= hours <= 168:
            raise ValueError(hours)
    except ValueError:
        return _page(error="1–168", status=400)
    try:
        code = enrollment.create_enrollment_code(ctx().db, station_id, ttl_s=hours * 3600,
                                                 name=request.form.get("name", "").strip()[:100],
                                                 created_by=g.user.name)
    except enrollment.EnrollmentError as exc:
        return _page(error=exc.text(lang()), status=400)
    pem = enrollment.server_ca_pem(ctx().config)
    resp = _page(code=code, ca_sha=enrollment.ca_fingerprint(pem) if pem else None)
    return resp[0], 201, {"Cache-Control": "no-store"}


@bp.post("/stations/<station_id>/revoke")
@auth.require_role("admin")
def station_revoke(station_id: str) -> ResponseReturnValue:
    try:
        found = enrollment.revoke(ctx(), station_id, broker=broker_sync())
    except Exception as exc:  # revoked on the API already; say the broker part failed
        log.exception("broker update after revoking %s failed", station_id)
        return _page(error=_("Revoked on the API, but the MQTT broker could not be updated: %(err)s", err=exc),
                     status=503)
    if not found:
        return _page(error=_("No station %(sid)s.", sid=station_id), status=404)
    log.info("station %s revoked by %s", station_id, g.user.name)
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"station_id": station_id, "revoked": True})
    return redirect(url_for("web.stations"))
