"""Operator accounts are managed at the archive and cached by the stations for offline work.

Stations receive code, name, role and the scrypt PIN hash (never a PIN) over the authenticated sync API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify

from protocol.clock import iso_vn
from protocol.ids import check_operator_code
from protocol.pins import hash_pin, valid_pin
from server.db import Records, open_server_db
from server.ingest.auth import station_required

ROLES = ("operator", "supervisor", "admin")
OPERATORS = "/api/v1/operators"

TABLE = """CREATE TABLE IF NOT EXISTS operators (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  pin_hash TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  updated_at TEXT NOT NULL
)"""

bp = Blueprint("operators", __name__)


def _db(db: Records | str | Path) -> Records:
    """The records object itself, or one opened from a SQLite path or PostgreSQL URL (the CLI's case)."""
    db = db if isinstance(db, Records) else open_server_db(db)
    db.ensure_schema(TABLE)
    return db


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
    return _db(db).query("SELECT code, name, role, pin_hash, active FROM operators ORDER BY code")


@bp.get(OPERATORS)
@station_required
def list_for_station():
    return jsonify({"operators": operators(current_app.extensions["sohoa"].db)})
