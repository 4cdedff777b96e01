"""Enrollment over HTTP: `POST /api/v1/enroll` for stations (a code, no account) and the admin's station page.

The API endpoint lives on its own blueprint (`api_bp`): it has no session, so neither login nor CSRF apply;
a per-address limiter slows code guessing instead. The admin pages are added to the web blueprint so its
guard (login, admin role, CSRF on POST) covers them; import this module before that blueprint is registered.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, g, jsonify, redirect, render_template_string, request, url_for

from server.accounts import auth, enrollment
from server.pages import ctx, lang
from server.web.blueprint import bp

log = logging.getLogger("sohoa.server.enrollment")
api_bp = Blueprint("enroll", __name__)
ENROLL_LIMITER_KEY = "sohoa_enroll_limiter"

TEXTS = {
    "stations": {"vi": "Trạm số hóa", "en": "Scanning stations"},
    "id": {"vi": "Mã trạm", "en": "Station id"},
    "name": {"vi": "Tên", "en": "Name"},
    "state": {"vi": "Trạng thái", "en": "State"},
    "active": {"vi": "Đang hoạt động", "en": "Active"},
    "revoked": {"vi": "Đã thu hồi", "en": "Revoked"},
    "revoke": {"vi": "Thu hồi", "en": "Revoke"},
    "revoke_confirm": {"vi": "Thu hồi quyền của trạm này ngay?", "en": "Revoke this station now?"},
    "pending": {"vi": "Mã đăng ký chưa dùng", "en": "Unused enrollment codes"},
    "expires": {"vi": "Hết hạn", "en": "Expires"},
    "new_code": {"vi": "Tạo mã đăng ký trạm", "en": "New enrollment code"},
    "hours": {"vi": "Hiệu lực (giờ)", "en": "Valid (hours)"},
    "create": {"vi": "Tạo mã", "en": "Create code"},
    "code_once": {"vi": "Mã chỉ hiện một lần, dùng được một lần. Trên trạm, chạy:",
                  "en": "Shown once, usable once. On the station, run:"},
    "ca": {"vi": "Vân tay CA của máy chủ (SHA-256):", "en": "Server CA fingerprint (SHA-256):"},
    "revoked_ok": {"vi": "Đã thu hồi trạm {sid}.", "en": "Station {sid} revoked."},
    "no_station": {"vi": "Không có trạm {sid}.", "en": "No station {sid}."},
    "broker_failed": {"vi": "Đã thu hồi trên API nhưng chưa cập nhật được máy chủ MQTT: {err}",
                      "en": "Revoked on the API, but the MQTT broker could not be updated: {err}"},
}

PAGE = """{% extends "base.html" %}
{% block title %}{{ x('stations') }}{% endblock %}
{% block main %}
{% if error %}<p class="flash error" id="enroll-error">{{ error }}</p>{% endif %}
{% if notice %}<p class="flash" id="enroll-notice">{{ notice }}</p>{% endif %}
{% if code %}<section id="new-code"><h2>{{ x('new_code') }}: <code id="code">{{ code }}</code></h2>
<p>{{ x('code_once') }}</p>
<pre>sohoa station-enroll --server {{ server_url }} --code {{ code }} --data /var/lib/sohoa/station
{%- if ca_sha %} --ca server-ca.crt{% endif %}</pre>
{% if ca_sha %}<p>{{ x('ca') }} <code id="ca-sha">{{ ca_sha }}</code></p>{% endif %}</section>{% endif %}
<section><h2>{{ x('stations') }}</h2>
<table id="stations"><thead><tr><th>{{ x('id') }}</th><th>{{ x('name') }}</th><th>{{ x('state') }}</th>
<th></th></tr></thead>
<tbody>{% for s in stations %}<tr class="{{ 'disabled' if s.revoked }}" data-station="{{ s.id }}">
<td>{{ s.id }}</td><td>{{ s.name }}</td><td>{{ x('revoked') if s.revoked else x('active') }}</td>
<td>{% if not s.revoked %}<form method="post" action="{{ url_for('web.station_revoke', station_id=s.id) }}"
 onsubmit="return confirm('{{ x('revoke_confirm') }}')">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<button type="submit">{{ x('revoke') }}</button></form>{% endif %}</td></tr>{% endfor %}</tbody></table>
</section>
<section><h2>{{ x('pending') }}</h2>
<table id="pending"><thead><tr><th>{{ x('id') }}</th><th>{{ x('name') }}</th><th>{{ x('expires') }}</th></tr></thead>
<tbody>{% for p in pending %}<tr><td>{{ p.station_id }}</td><td>{{ p.name }}</td><td>{{ p.expires }}</td></tr>
{% endfor %}</tbody></table>
</section>
<section><h2>{{ x('new_code') }}</h2>
<form method="post" action="{{ url_for('web.station_code') }}" id="new-code-form">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<label>{{ x('id') }} <input name="station_id" required pattern="[a-z0-9-]{1,32}"></label>
<label>{{ x('name') }} <input name="name"></label>
<label>{{ x('hours') }} <input name="hours" type="number" min="1" max="168" value="24"></label>
<button type="submit">{{ x('create') }}</button></form>
</section>
{% endblock %}"""


def x(key: str, **values: object) -> str:
    return TEXTS[key]["en" if lang() == "en" else "vi"].format(**values)


def broker_sync() -> enrollment.BrokerSync | None:
    return current_app.extensions.get(enrollment.BROKER_SYNC_KEY)


# ------------------------------------------------------------------------------------------ station API

@api_bp.record_once
def _setup(state: Any) -> None:
    # Per client address: 10 wrong codes in 10 minutes, then wait (60 bits leave nothing to guess online).
    from sohoa.limits import AttemptLimiter

    state.app.extensions[ENROLL_LIMITER_KEY] = AttemptLimiter(free=10, base_s=60.0, per_address=10)


def _refuse(status: int, code: str, message: str, message_vi: str, **headers: str):
    resp = jsonify({"error": code, "message": message, "message_vi": message_vi})
    resp.headers.update(headers)
    return resp, status


@api_bp.post("/api/v1/enroll")
def enroll():
    """{code, station_id?} → the station's identity: API token, MQTT account, receipt key, server CA."""
    limiter = current_app.extensions[ENROLL_LIMITER_KEY]  # sohoa.limits.AttemptLimiter
    address = request.remote_addr or "?"
    key = f"enroll:{address}"  # both limiter keys per address: no global lock-out anyone could trigger
    wait = limiter.retry_after(key, address)
    if wait > 0:
        seconds = int(wait) + 1
        return _refuse(429, "rate_limited", f"too many wrong codes: retry in {seconds} s",
                       f"Nhập sai quá nhiều lần: thử lại sau {seconds} giây", **{"Retry-After": str(seconds)})
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("code"), str) or not (
            body.get("station_id") is None or isinstance(body.get("station_id"), str)):
        return _refuse(400, "bad_request", "send a JSON object {code, station_id?}",
                       "Yêu cầu phải là JSON {code, station_id}")
    try:
        identity = enrollment.redeem(ctx(), body["code"][:64], station_id=body.get("station_id") or None)
    except enrollment.EnrollmentError as exc:
        limiter.failed(key, address)
        log.warning("enrollment refused from %s: %s", address, exc)
        return _refuse(409 if exc.code == "station_mismatch" else 403, exc.code, str(exc), exc.message_vi)
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

def _page(*, status: int = 200, **extra: Any):
    import datetime

    pending = []
    for row in enrollment.pending_codes(ctx().db):
        expires = datetime.datetime.fromtimestamp(row["expires_at"]).astimezone().isoformat(timespec="minutes")
        pending.append({**row, "expires": expires})
    values = {"stations": ctx().db.stations(), "pending": pending, "code": None, "error": None, "notice": None,
              "server_url": ctx().config.public_url or request.host_url.rstrip("/"), "ca_sha": None, "x": x}
    values.update(extra)
    return render_template_string(PAGE, **values), status


@bp.get("/stations")
@auth.require_role("admin")
def stations():
    return _page()


@bp.get("/api/v1/web/stations")
@auth.require_role("admin")
def stations_json():
    return jsonify({"stations": ctx().db.stations(), "pending": enrollment.pending_codes(ctx().db)})


@bp.post("/stations/codes")
@auth.require_role("admin")
def station_code():
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
        return _page(error=exc.message_vi if lang() == "vi" else str(exc), status=400)
    pem = enrollment.server_ca_pem(ctx().config)
    resp = _page(code=code, ca_sha=enrollment.ca_fingerprint(pem) if pem else None)
    return resp[0], 201, {"Cache-Control": "no-store"}


@bp.post("/stations/<station_id>/revoke")
@auth.require_role("admin")
def station_revoke(station_id: str):
    try:
        found = enrollment.revoke(ctx(), station_id, broker=broker_sync())
    except Exception as exc:  # revoked on the API already; say the broker part failed
        log.exception("broker update after revoking %s failed", station_id)
        return _page(error=x("broker_failed", err=exc), status=503)
    if not found:
        return _page(error=x("no_station", sid=station_id), status=404)
    log.info("station %s revoked by %s", station_id, g.user.name)
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"station_id": station_id, "revoked": True})
    return redirect(url_for("web.stations"))
