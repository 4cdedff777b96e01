"""Servers found on the LAN (zeroconf) and the admin's confirmation of one: never used unconfirmed."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from station.web.session import require

bp = Blueprint("discovery", __name__, url_prefix="/api/discovery")


def _station() -> Any:
    return current_app.extensions["station"]


@bp.get("")
def candidates() -> ResponseReturnValue:
    require("admin")
    from station.discovery import browse, load_confirmed

    station = _station()
    if request.args.get("refresh"):
        station.discovered = [c.to_dict() for c in browse(2.0)]
    confirmed = load_confirmed(station.config.data_dir)
    return jsonify({"server_url": station.config.server_url, "candidates": station.discovered,
                    "confirmed": confirmed.to_dict() if confirmed else None})


@bp.post("/confirm")
def confirm() -> ResponseReturnValue:
    require("admin")
    from station.discovery import Candidate, confirm, verify

    station = _station()
    body = request.get_json(silent=True) or {}
    chosen = next((c for c in station.discovered if c.get("api_url") == body.get("api_url")), None)
    if chosen is None:
        return jsonify({"error": "not_found", "message": "no such discovered server",
                        "message_vi": "Không có máy chủ này trong danh sách tìm thấy."}), 404
    candidate = Candidate(**{**chosen, "addresses": tuple(chosen.get("addresses", ()))})
    if not verify(candidate):
        return jsonify({"error": "fingerprint_mismatch",
                        "message": "the server's key does not match what it advertised",
                        "message_vi": "Khóa của máy chủ không khớp với thông tin quảng bá: "
                                      "không dùng máy chủ này."}), 409
    confirm(station.config.data_dir, candidate)
    station.use_server(candidate.api_url)
    return jsonify({"ok": True, "server_url": candidate.api_url})
