"""The web blueprint: its session set-up and template globals; the checks before each endpoint are
server/pages.py's guard (shared with the archive's pages).

The session key is made once in the file the config names (`session_key_file`, by default
under the server's data folder; servers behind one address share it), so app.py needs no knowledge of the web
UI's login. Accounts are read from the server's records (`ctx().db`), shared when the records are.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface

from server.accounts import auth
from server.labels import label
from server.pages import guard, lang

bp = Blueprint("web", __name__)
LIMITER_KEY = "sohoa_login_limiter"


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


bp.before_request(guard)


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"label": label, "lang": lang(), "user": g.get("user"), "csrf_token": lambda: auth.csrf_token(session)}
