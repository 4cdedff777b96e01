"""The sync API blueprint (see protocol/api.py for the protocol)."""

from __future__ import annotations

import errno
import hashlib
import logging
import threading
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from protocol import api
from protocol.clock import iso_vn
from server.ingest.auth import error, station_required
from server.ingest.uploads import file_sha256, part_path, write_chunk

log = logging.getLogger("sohoa.server.ingest")
bp = Blueprint("ingest", __name__)
_commit_lock = threading.Lock()  # one commit at a time per process: checks are CPU-bound anyway


def _ctx() -> Any:
    return current_app.extensions["sohoa"]


def _own_upload(upload_id: str) -> dict | None:
    row = _ctx().db.upload(upload_id)
    if row is None or row["station_id"] != g.station_id:  # another station's upload does not exist for you
        return None
    return row


@bp.get(api.HEALTH)
def health():
    return jsonify({"ok": True, "time": iso_vn()})


@bp.get(api.SERVER_KEY)
def server_key():
    return jsonify({"ed25519_public_key": _ctx().public_key_pem})


@bp.get(api.WORKORDERS)
@station_required
def workorders():
    rows = _ctx().db.workorders(station_id=g.station_id)
    return jsonify({"workorders": rows})


@bp.post(api.UPLOADS)
@station_required
def open_upload():
    body = request.get_json(silent=True) or {}
    sha = str(body.get("sha256", "")).upper()
    size = body.get("size")
    if len(sha) != 64 or any(c not in "0123456789ABCDEF" for c in sha):
        return error(400, api.ErrorCode.BAD_REQUEST, "sha256 must be 64 hex digits")
    if not isinstance(size, int) or size <= 0:
        return error(400, api.ErrorCode.BAD_REQUEST, "size must be a positive integer")
    if size > api.MAX_PACKAGE_SIZE:
        return error(413, api.ErrorCode.TOO_LARGE, f"package larger than {api.MAX_PACKAGE_SIZE} bytes")
    row = _ctx().db.open_upload(
        station_id=g.station_id, sha256=sha, size=size, file_code=body.get("file_code"),
        batch_uid=body.get("batch_uid"), work_order_id=body.get("work_order_id"),
        expected_sheets=body.get("expected_sheets"),
    )
    return jsonify(_status(row)), 201


def _status(row: dict) -> dict:
    import json

    out = {"upload_id": row["id"], "received": row["received"], "size": row["size"], "state": row["state"]}
    if row["receipt"]:
        out["receipt"] = json.loads(row["receipt"])
    return out


@bp.get("/api/v1/uploads/<upload_id>")
@station_required
def upload_status(upload_id: str):
    row = _own_upload(upload_id)
    if row is None:
        return error(404, api.ErrorCode.NOT_FOUND, "no such upload")
    return jsonify(_status(row))


@bp.put("/api/v1/uploads/<upload_id>/chunks/<int:offset>")
@station_required
def put_chunk(upload_id: str, offset: int):
    ctx = _ctx()
    row = _own_upload(upload_id)
    if row is None:
        return error(404, api.ErrorCode.NOT_FOUND, "no such upload")
    if row["state"] != "open":
        return jsonify(_status(row))
    data = request.get_data(cache=False)
    want = request.headers.get(api.HEADER_CHUNK_SHA256, "").upper()
    if hashlib.sha256(data).hexdigest().upper() != want:
        return error(400, api.ErrorCode.CHUNK_HASH, "chunk SHA-256 does not match its header: resend it")
    if offset > row["received"]:
        return error(409, api.ErrorCode.OFFSET, f"chunk starts at {offset} but only {row['received']} received")
    if offset + len(data) > row["size"]:
        return error(400, api.ErrorCode.TOO_LARGE, "chunk goes past the announced size")
    try:
        received = write_chunk(part_path(ctx.config.uploads_dir, upload_id), offset, data)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            return error(507, api.ErrorCode.DISK_FULL, "server disk full: try again later")
        raise
    ctx.db.set_received(upload_id, received)
    return jsonify({"upload_id": upload_id, "received": received})


@bp.post("/api/v1/uploads/<upload_id>/commit")
@station_required
def commit(upload_id: str):
    ctx = _ctx()
    with _commit_lock:
        row = _own_upload(upload_id)
        if row is None:
            return error(404, api.ErrorCode.NOT_FOUND, "no such upload")
        if row["state"] != "open":
            return jsonify(_status(row))
        if row["received"] != row["size"]:
            return error(409, api.ErrorCode.INCOMPLETE, f"{row['received']} of {row['size']} bytes received")
        path = part_path(ctx.config.uploads_dir, upload_id)
        if file_sha256(path) != row["sha256"]:
            ctx.db.set_received(upload_id, 0)
            path.unlink(missing_ok=True)
            return error(409, api.ErrorCode.PACKAGE_HASH, "package hash differs from the manifest: upload again")
        receipt = ctx.ingest.commit(row, path)
        return jsonify({"upload_id": upload_id, "state": receipt["verdict"], "receipt": receipt})
