"""Station authentication for the sync API: `Authorization: Bearer <token>` + `X-Sohoa-Station`."""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Response, current_app, g, jsonify, request

from protocol import api


def error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message}), status


def station_required(view: Any) -> Any:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        station_id = request.headers.get(api.HEADER_STATION, "")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        db = current_app.extensions["sohoa"].db
        if scheme != api.AUTH_SCHEME or not station_id or not db.authenticate(station_id, token):
            return error(401, api.ErrorCode.UNAUTHORIZED,
                         "station credentials missing or wrong: enrol the station again")
        g.station_id = station_id
        return view(*args, **kwargs)

    return wrapper
