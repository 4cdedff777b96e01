"""What every page of the server's web UIs (server/web: supervisors and admins; server/archive: archivists)
shares: the server's context, the chosen language and its texts, and the guard that runs before each page.

Every endpoint needs a logged-in user unless marked `public` (server/accounts/auth.py), with the role it names; POST
requests need the session's CSRF token. Accounts are read from the server's records (`ctx().db`), shared when
the records are. It sits beside web/ and archive/ (not in either) so both use it and neither imports the other's
infrastructure: the supervisor's view reads the archive's results, never the other way round.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, g, jsonify, redirect, request, session, url_for

from server import i18n
from server.accounts import auth


def ctx() -> Any:
    return current_app.extensions["sohoa"]


def lang() -> str:
    chosen = session.get("lang")
    return chosen if chosen in i18n.LANGS else i18n.DEFAULT


def t(key: str, **values: object) -> str:
    return i18n.text(key, lang(), **values)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/events" or request.is_json


def guard() -> Any:
    """Before every page of both UIs (web and archive): the login, role and CSRF checks."""
    view = current_app.view_functions.get(request.endpoint or "")
    role = auth.endpoint_role(view)
    g.user = None
    name = session.get("user")
    if name:
        cfg = ctx().config
        # The session must still exist server-side: logout, idle time and age end it at every server.
        live = auth.session_user(ctx().db, session.get("sid"), idle_s=cfg.session_idle_s, max_s=cfg.session_max_s)
        g.user = auth.active_user(ctx().db, name) if live == name else None
        if g.user is None:  # logged out, expired, disabled or removed since login
            keep_lang = session.get("lang")
            session.clear()
            if keep_lang:
                session["lang"] = keep_lang
    if role is None:
        return None
    if g.user is None:
        if _wants_json():
            return jsonify({"error": "login_required", "message": "log in first", "message_vi": "Hãy đăng nhập"}), 401
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    if not g.user.can(role):
        if _wants_json():
            return jsonify(
                {
                    "error": "forbidden",
                    "message": i18n.text("forbidden", "en"),
                    "message_vi": i18n.text("forbidden", "vi"),
                }
            ), 403
        abort(403)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
        if not auth.csrf_ok(session, sent):
            return jsonify(
                {
                    "error": "csrf",
                    "message": i18n.text("csrf_failed", "en"),
                    "message_vi": i18n.text("csrf_failed", "vi"),
                }
            ), 400
    return None
