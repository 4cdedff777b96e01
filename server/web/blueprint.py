"""The web blueprint and the checks that run before each of its endpoints.

Every endpoint needs a logged-in supervisor unless marked `public` (server/auth.py); POST requests need the
session's CSRF token. The session key is made once in the file the config names (`session_key_file`, by default
under the server's data folder; servers behind one address share it), so app.py needs no knowledge of the web
UI's login. Accounts are read from the server's records (`ctx().db`), shared when the records are.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, g, has_request_context, jsonify, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from server import auth
from server.web import i18n

bp = Blueprint("web", __name__)
LIMITER_KEY = "sohoa_login_limiter"


def ctx() -> Any:
    return current_app.extensions["sohoa"]


def lang() -> str:
    chosen = session.get("lang")
    return chosen if chosen in i18n.LANGS else i18n.DEFAULT


def t(key: str, **values: object) -> str:
    return i18n.text(key, lang(), **values)


@bp.record_once
def _setup(state: Any) -> None:
    app = state.app
    context = app.extensions.get("sohoa")
    if context is not None and not app.secret_key:
        app.secret_key = auth.load_or_create_secret(context.config.session_key_path)
    # Flask's defaults already hold the key (None), so a setdefault here set nothing: assign.
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.session_interface = _SessionInterface()
    from sohoa.limits import AttemptLimiter

    app.extensions[LIMITER_KEY] = AttemptLimiter()


class _SessionInterface(SecureCookieSessionInterface):
    """The signed cookie carries the session id; the cookie is Secure whenever the request came over TLS."""

    def get_cookie_secure(self, app: Any) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or (has_request_context() and request.is_secure)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/events" or request.is_json


@bp.before_request
def _guard():
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


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"t": t, "lang": lang(), "user": g.get("user"), "csrf_token": lambda: auth.csrf_token(session)}
