"""Servers found on the LAN (zeroconf) and the admin's confirmation of one: never used unconfirmed."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from protocol.i18n import N_
from sohoa.weberrors import refuse
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
        return refuse(404, "not_found", N_("This server is not in the list of servers found."))
    candidate = Candidate(**{**chosen, "addresses": tuple(chosen.get("addresses", ()))})
    if not verify(candidate):
        return refuse(409, "fingerprint_mismatch", N_("The server's key does not match what it advertised: "
                                                      "do not use this server."))
    confirm(station.config.data_dir, candidate)
    station.use_server(candidate.api_url)
    return jsonify({"ok": True, "server_url": candidate.api_url})
