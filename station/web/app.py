"""Flask app factory for the station: the operator UI pages and /api/... JSON endpoints.

Every error becomes a short JSON answer (API) or a friendly page (UI) with a Vietnamese message; a stack
trace only ever goes to the log.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from protocol.i18n import N_, translate
from sohoa.webi18n import install as install_babel

log = logging.getLogger("sohoa.station.web")


def create_app(station: Any, *, idle_lock_s: float | None = None) -> Flask:
    """The station's web app. `idle_lock_s`: lock a session after this long without a request."""
    from station.auth import IDLE_LOCK_S, Accounts
    from station.web.api import bp as api_bp
    from station.web.pages import bp as pages_bp

    app = Flask(__name__, template_folder="templates", static_folder="static")
    app.config["JSON_AS_ASCII"] = False
    install_babel(app)  # the one catalogue and language rule of both apps
    app.extensions["station"] = station
    app.extensions["accounts"] = Accounts(station.store, idle_lock_s=idle_lock_s or IDLE_LOCK_S,
                                          online=station.verify_operator,
                                          key_path=station.config.data_dir / "keys" / "pin-verifier.key")
    from station.web.trigger import LastScan, make_trigger

    app.extensions["last_scan"] = LastScan()
    from sohoa.streams import StreamLimiter

    # Live batch views hold a web thread each: 3 in all (of the station's 8), 2 per operator.
    app.extensions["streams"] = StreamLimiter(total=3, per_key=2)
    app.extensions["trigger"] = make_trigger(station, app.extensions["last_scan"])
    from station.service import data_path
    from station.web.suggest import Suggester

    app.extensions["suggest"] = Suggester(station.store, station.config.data_dir, lang=station.config.ocr_lang,
                                          resolve=lambda rel: data_path(station.config, rel))
    app.register_blueprint(api_bp)
    from station.web.discovery_api import bp as discovery_bp

    app.register_blueprint(discovery_bp)
    from station.web.ops_api import bp as ops_bp
    from station.web.qc_profile import install as install_qc_profiles

    app.register_blueprint(ops_bp)
    from station.web.rework_api import bp as rework_bp

    app.register_blueprint(rework_bp)
    install_qc_profiles(station)
    app.register_blueprint(pages_bp)
    _errors(app)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        from protocol.webheaders import add_security_headers

        add_security_headers(response.headers, https=request.is_secure)
        return response

    return app


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _errors(app: Flask) -> None:
    """protocol.errors through sohoa.weberrors: a UserError answers its own status, anything else is a 500 with
    an incident id and its traceback in the log (no ValueError→400 or KeyError→404 that would hide a bug)."""
    from station.auth import AuthError

    def answer(status: int, error: str, message: str, text: str, **extra: Any) -> ResponseReturnValue:
        if _wants_json():
            return jsonify({"error": error, "message": message, "text": text, **extra}), status
        return render_template("error.html", status=status, text=text, message=message), status

    from sohoa.weberrors import install, internal, lang

    install(app, answer)

    @app.errorhandler(AuthError)
    def auth_error(exc: AuthError) -> ResponseReturnValue:
        if not _wants_json() and exc.code in ("no_session", "locked"):
            return redirect(url_for("pages.login", next=request.path))
        return answer(exc.status, exc.key, exc.message, exc.text(lang()))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            msgid = N_("This page does not exist.") if exc.code == 404 else N_("The request is not valid.")
            return answer(exc.code or 400, exc.name, exc.description or "", translate(msgid, lang()))
        return internal(answer, exc)  # the exception goes to the log only, never to the page
