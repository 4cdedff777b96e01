"""Operator accounts are managed at the archive; stations check PINs here while online.

Stations receive code, name, role and whether the account is active over the authenticated sync API, never
a PIN hash: a 4-12 digit PIN falls to a brute force of its hash in seconds, so no station token may fetch
one. A station checks a PIN with POST /api/v1/operators/verify (limited per operator and station, with
backoff) and keeps its own keyed verifier only for operators who logged in there (station/auth.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from protocol import api
from protocol.clock import iso_vn
from protocol.ids import check_operator_code
from protocol.inputs import get_str
from protocol.pins import hash_pin, valid_pin, verify_pin
from server.accounts.station_auth import station_required
from server.databases import open_server_db
from server.records.db import Records

ROLES = ("operator", "supervisor", "admin")
OPERATORS = "/api/v1/operators"
VERIFY = "/api/v1/operators/verify"

bp = Blueprint("operators", __name__)


def _db(db: Records | str | Path) -> Records:
    """The records object itself, or one opened from a SQLite path or PostgreSQL URL (the CLI's case)."""
    return db if isinstance(db, Records) else open_server_db(db)


def set_operator(db: Records | str | Path, code: str, *, name: str, role: str, pin: str) -> None:
    """Create or change an operator account (PIN 4-12 digits, stored hashed)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not valid_pin(pin):
        raise ValueError("PIN must be 4 to 12 digits")
    check_operator_code(code)
    with _db(db).tx() as conn:
        conn.execute(
            "INSERT INTO operators (code, name, role, pin_hash, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(code) DO UPDATE SET name = excluded.name, role = excluded.role,"
            " pin_hash = excluded.pin_hash, active = 1, updated_at = excluded.updated_at",
            (code, name or code, role, hash_pin(pin), iso_vn()),
        )


def deactivate_operator(db: Records | str | Path, code: str) -> bool:
    with _db(db).tx() as conn:
        return (
            conn.execute("UPDATE operators SET active = 0, updated_at = ? WHERE code = ?", (iso_vn(), code)).rowcount
            > 0
        )


def operators(db: Records | str | Path) -> list[dict[str, Any]]:
    """The accounts as stations see them: no PIN hash."""
    return _db(db).query("SELECT code, name, role, active FROM operators ORDER BY code")


def check_pin(db: Records | str | Path, code: str, pin: str) -> dict[str, Any] | None:
    """The account if `pin` is its PIN and it is active, else None (same scrypt cost either way)."""
    row = _db(db).one("SELECT code, name, role, pin_hash, active FROM operators WHERE code = ?", (code,))
    ok = verify_pin(pin, row["pin_hash"] if row else _DUMMY)
    if not (ok and row and row["active"]):
        return None
    return {"code": row["code"], "name": row["name"], "role": row["role"]}


_DUMMY = hash_pin("0000")


@bp.get(OPERATORS)
@station_required
def list_for_station() -> ResponseReturnValue:
    return jsonify({"operators": operators(current_app.extensions["sohoa"].db)})


@bp.post(VERIFY)
@station_required
def verify_for_station() -> ResponseReturnValue:
    """{code, pin} → the account (200), 401 wrong, 429 too many wrong answers for this operator at this station."""
    from server.accounts.station_auth import error
    from sohoa.limits import AttemptLimiter

    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    code, pin = get_str(body, "code", max_len=64), get_str(body, "pin", max_len=64)
    if not code or not pin:
        return error(400, api.ErrorCode.BAD_REQUEST, "send a JSON object {code, pin}")
    limiter = current_app.extensions.setdefault("sohoa_pin_limiter", AttemptLimiter())
    wait = limiter.retry_after(code, g.station_id)
    if wait > 0:
        resp, status = error(429, api.ErrorCode.RATE_LIMITED,
                             f"too many wrong PINs for {code}: retry in {int(wait) + 1} s")
        resp.headers["Retry-After"] = str(int(wait) + 1)
        return resp, status
    account = check_pin(current_app.extensions["sohoa"].db, code, pin)
    if account is None:
        limiter.failed(code, g.station_id)
        return error(401, api.ErrorCode.BAD_PIN, "wrong operator code or PIN")
    limiter.succeeded(code, g.station_id)
    return jsonify(account)
