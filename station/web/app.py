"""Flask app factory for the station: the operator UI pages and /api/... JSON endpoints."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify

log = logging.getLogger("sohoa.station.web")


def create_app(station: Any) -> Flask:
    from station.web.api import bp as api_bp
    from station.web.pages import bp as pages_bp

    app = Flask(__name__, template_folder="templates", static_folder="static")
    app.extensions["station"] = station
    app.register_blueprint(api_bp)
    app.register_blueprint(pages_bp)
    _errors(app)
    return app


def _errors(app: Flask) -> None:
    from protocol.metadata import MetadataError
    from station.capture.source import CaptureRefused
    from station.store import StateError

    @app.errorhandler(MetadataError)
    def metadata_error(exc: MetadataError):
        problems = [{"field": p.field, "message": p.reason, "message_vi": p.reason_vi} for p in exc.problems]
        return jsonify({"error": "invalid_metadata", "message": str(exc), "problems": problems,
                        "message_vi": "Thông tin chưa hợp lệ: " + "; ".join(p["message_vi"] for p in problems)}), 422

    @app.errorhandler(StateError)
    def state_error(exc: StateError):
        return jsonify({"error": "wrong_state", "message": str(exc),
                        "message_vi": "Hồ sơ đang ở trạng thái không cho phép thao tác này."}), 409

    @app.errorhandler(CaptureRefused)
    def refused(exc: CaptureRefused):
        return jsonify({"error": exc.code, "message": exc.message, "message_vi": exc.message_vi}), 400

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            body = {"error": exc.name, "message": exc.description, "message_vi": "Yêu cầu không hợp lệ."}
            return jsonify(body), exc.code
        log.exception("unexpected error")
        return jsonify({"error": "internal", "message": f"{type(exc).__name__}: {exc}",
                        "message_vi": "Có lỗi trong trạm số hóa; thao tác chưa được thực hiện. "
                                      "Hãy thử lại hoặc báo quản trị viên."}), 500

    @app.errorhandler(KeyError)
    def not_found(exc: KeyError):
        return jsonify({"error": "not_found", "message": str(exc), "message_vi": "Không tìm thấy."}), 404
