"""The sync API blueprint (see protocol/api.py for the protocol)."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import sqlite3
import threading
from collections import defaultdict
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from protocol import api
from protocol.clock import iso_vn
from protocol.i18n import N_, translate
from server.accounts.station_auth import error, station_required
from server.archive import rework
from server.ingest.early import EarlyChecks
from server.ingest.uploads import PartStored, file_sha256, part_path, sweep_parts, write_chunk
from sohoa.weberrors import lang

log = logging.getLogger("sohoa.server.ingest")
bp = Blueprint("ingest", __name__)
_commit_lock = threading.Lock()  # one commit at a time per process: checks are CPU-bound anyway
_chunk_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)  # one writer per upload
# The package hash, computed as the chunks arrive in order at this process: (bytes hashed, sha256 object).
# A chunk out of order, or chunks taken by another server, drop it and the commit hashes the file instead.
# Only a shortcut for the package hash check: the store still hashes the backup copy it stores (the upload's
# backup part, or a copy of the upload file) before publishing it.
_running: dict[str, tuple[int, Any]] = {}
# Each document's PDF work, started once its bytes have arrived at this process (server.ingest.early).
_early = EarlyChecks()
MANIFEST_TEXT = ("file_code", "batch_uid", "work_order_id")
MAX_SHEETS = 1_000_000
# Quotas (#14.12): a station holds at most MAX_OPEN_UPLOADS unfinished uploads; one left alone for
# UPLOAD_EXPIRY_S is expired and its partial file removed; a package for a work order may not exceed
# PER_SHEET_BYTES per expected sheet plus SIZE_SLACK (a 300 dpi colour page is ~1-3 MB as PDF/A).
MAX_OPEN_UPLOADS = 8
UPLOAD_EXPIRY_S = 72 * 3600
PER_SHEET_BYTES = 30 * 1024 * 1024
SIZE_SLACK = 100 * 1024 * 1024
API_ERRORS = {
    400: api.ErrorCode.BAD_REQUEST,
    401: api.ErrorCode.UNAUTHORIZED,
    403: api.ErrorCode.FORBIDDEN,
    404: api.ErrorCode.NOT_FOUND,
    405: api.ErrorCode.BAD_REQUEST,
    409: api.ErrorCode.CONFLICT,
    413: api.ErrorCode.TOO_LARGE,
}


def _utf8(text: str) -> bool:
    """Storable text: JSON can carry lone surrogates (neither database stores them) and NUL (PostgreSQL refuses it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@bp.app_errorhandler(HTTPException)
def _api_error(exc: HTTPException) -> ResponseReturnValue:
    """Errors Flask raises itself (no route, wrong method, body too large) are JSON on the API too."""
    if not request.path.startswith(api.API + "/"):
        return exc
    code = exc.code or 500
    response, status = error(code, API_ERRORS.get(code, api.ErrorCode.BAD_REQUEST), exc.description or exc.name)
    allow = exc.get_response().headers.get("Allow")
    if allow:  # a 405 must say which methods exist (RFC 9110)
        response.headers["Allow"] = allow
    return response, status


@bp.record_once
def _recover(state: Any) -> None:
    """At start-up, drop partial files that a crash after a commit left behind (never visible anyway)."""
    ctx = state.app.extensions.get("sohoa")
    if ctx is None:
        return
    removed = sweep_parts(ctx.config.uploads_dir, ctx.db.open_upload_ids)
    if ctx.store.backup:
        removed += sweep_parts(ctx.store.backup_uploads, ctx.db.open_upload_ids)
    if removed:
        log.info("removed %d leftover partial uploads: %s", len(removed), ", ".join(removed))


def _disk_full(exc: BaseException | None) -> bool:
    """A full disk, whichever layer said so: the filesystem, SQLite (records or catalogue) or PostgreSQL
    (SQLSTATE 53100), here or in the exception it came from."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        if getattr(exc, "sqlstate", None) == "53100":
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def disk_full_response(exc: BaseException) -> Any:
    """The 507 answer when `exc` is a full disk on any write path (the station retries later), else None.
    Called by the app's one handler of unexpected errors (server.app._errors)."""
    if not _disk_full(exc):
        return None
    log.warning("%s %s: disk full (%s)", request.method, request.path, exc)
    if request.path.startswith(api.API + "/"):
        return _disk_full_answer()
    return translate(N_("The server's disk is full: try again later."), lang()), 507


def _disk_full_answer() -> tuple[Response, int]:
    return error(507, api.ErrorCode.DISK_FULL, "server disk full: try again later")


def _ctx() -> Any:
    return current_app.extensions["sohoa"]


def _own_upload(upload_id: str) -> dict | None:
    row = _ctx().db.upload(upload_id)
    if row is None or row["station_id"] != g.station_id:  # another station's upload does not exist for you
        return None
    return row


@bp.get(api.HEALTH)
def health() -> ResponseReturnValue:
    return jsonify({"ok": True, "time": iso_vn()})


@bp.get(api.OPENAPI)
def openapi() -> ResponseReturnValue:
    from pathlib import Path

    spec = (Path(__file__).parent.parent / "openapi.yaml").read_text(encoding="utf-8")
    return current_app.response_class(spec, mimetype="application/yaml")


@bp.get(api.SERVER_KEY)
def server_key() -> ResponseReturnValue:
    return jsonify({"ed25519_public_key": _ctx().public_key_pem})


@bp.get(api.WORKORDERS)
@station_required
def workorders() -> ResponseReturnValue:
    """The station's open work orders: an accepted one is done (archived) and no longer offered, so the same
    hồ sơ is not scanned and archived twice; an administrator reopens one on the work-order page."""
    rows = _ctx().db.workorders(station_id=g.station_id)
    orders = [api.WorkOrder.from_dict(r) for r in rows if r["state"] not in CLOSED_WORKORDER_STATES]
    return jsonify({"workorders": [o.to_dict() for o in orders]})


CLOSED_WORKORDER_STATES = ("accepted",)


@bp.post(api.UPLOADS)
@station_required
def open_upload() -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, api.ErrorCode.BAD_REQUEST, "the manifest must be a JSON object")
    sha = str(body.get("sha256", "")).upper()
    size = body.get("size")
    for key in MANIFEST_TEXT:
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 200 or not _utf8(value)):
            return error(400, api.ErrorCode.BAD_REQUEST, f"{key} must be a string of at most 200 characters")
    sheets = body.get("expected_sheets")
    if sheets is not None and (
        not isinstance(sheets, int) or isinstance(sheets, bool) or not 0 <= sheets <= MAX_SHEETS
    ):
        return error(400, api.ErrorCode.BAD_REQUEST, f"expected_sheets must be an integer 0..{MAX_SHEETS}")
    if len(sha) != 64 or any(c not in "0123456789ABCDEF" for c in sha):
        return error(400, api.ErrorCode.BAD_REQUEST, "sha256 must be 64 hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        return error(400, api.ErrorCode.BAD_REQUEST, "size must be a positive integer")
    if size > api.MAX_PACKAGE_SIZE:
        return error(413, api.ErrorCode.TOO_LARGE, f"package larger than {api.MAX_PACKAGE_SIZE} bytes")
    wo_id = body.get("work_order_id")
    if wo_id:
        order = _ctx().db.workorder(wo_id)
        if order is None or order["station_id"] != g.station_id:
            log.warning("station %s refused: work order %r is not assigned to it", g.station_id, wo_id)
            return error(403, api.ErrorCode.FORBIDDEN, f"work order {wo_id} is not assigned to this station")
        limit = max(order["expected_sheets"], 1) * PER_SHEET_BYTES + SIZE_SLACK
        if size > limit:
            return error(413, api.ErrorCode.TOO_LARGE, f"{size} bytes is more than work order {wo_id} can need "
                         f"({order['expected_sheets']} sheets: at most {limit} bytes)")
    existing = _ctx().db.find_upload(g.station_id, sha)
    if existing is None or existing["state"] == "expired":  # a resent manifest is not a new upload
        _expire_stale(g.station_id)
        if _ctx().db.open_upload_count(g.station_id) >= MAX_OPEN_UPLOADS:
            resp, status = error(429, api.ErrorCode.RATE_LIMITED, f"{MAX_OPEN_UPLOADS} uploads already open for "
                                 "this station: finish or let them expire first")
            resp.headers["Retry-After"] = "60"
            return resp, status
    row = _ctx().db.open_upload(
        station_id=g.station_id,
        sha256=sha,
        size=size,
        file_code=body.get("file_code"),
        batch_uid=body.get("batch_uid"),
        work_order_id=body.get("work_order_id"),
        expected_sheets=body.get("expected_sheets"),
    )
    return jsonify(_status(row)), 201


def _expire_stale(station_id: str | None = None) -> list[str]:
    """Expire open uploads untouched for UPLOAD_EXPIRY_S and remove their partial files."""
    from datetime import timedelta

    from protocol.clock import now_vn

    ctx = _ctx()
    expired = ctx.db.expire_uploads(iso_vn(now_vn() - timedelta(seconds=UPLOAD_EXPIRY_S)), station_id=station_id)
    for upload_id in expired:
        _early.drop(upload_id)
        part_path(ctx.config.uploads_dir, upload_id).unlink(missing_ok=True)
        ctx.store.drop_upload_part(upload_id)
    if expired:
        log.info("expired %d abandoned uploads: %s", len(expired), ", ".join(expired))
    return expired


def _status(row: dict) -> dict:
    out = {"upload_id": row["id"], "received": row["received"], "size": row["size"], "state": row["state"]}
    if row["receipt"]:
        out["receipt"] = json.loads(row["receipt"])
    return out


@bp.get("/api/v1/uploads/<upload_id>")
@station_required
def upload_status(upload_id: str) -> ResponseReturnValue:
    row = _own_upload(upload_id)
    if row is None:
        return error(404, api.ErrorCode.NOT_FOUND, "no such upload")
    return jsonify(_status(row))


@bp.put("/api/v1/uploads/<upload_id>/chunks/<int:offset>")
@station_required
def put_chunk(upload_id: str, offset: int) -> ResponseReturnValue:
    ctx = _ctx()
    if _own_upload(upload_id) is None:
        return error(404, api.ErrorCode.NOT_FOUND, "no such upload")
    data = request.get_data(cache=False)
    want = request.headers.get(api.HEADER_CHUNK_SHA256, "").upper()
    if hashlib.sha256(data).hexdigest().upper() != want:
        return error(400, api.ErrorCode.CHUNK_HASH, "chunk SHA-256 does not match its header: resend it")
    # Two copies of one chunk in flight (a retry) must not interleave, in this process or another server's.
    with _chunk_locks[upload_id], ctx.db.upload_lock(upload_id):
        row = _own_upload(upload_id)
        if row is None or row["state"] != "open":
            return jsonify(_status(row)) if row else error(404, api.ErrorCode.NOT_FOUND, "no such upload")
        if offset > row["received"]:
            return error(409, api.ErrorCode.OFFSET, f"chunk starts at {offset} but only {row['received']} received")
        if offset + len(data) > row["size"]:
            return error(400, api.ErrorCode.TOO_LARGE, "chunk goes past the announced size")
        path = part_path(ctx.config.uploads_dir, upload_id)
        _early.before_write(upload_id, path, offset)
        hashing = _HashAlong(upload_id, offset, data)  # beside the write and its fsync (hashlib leaves the GIL)
        try:
            received = write_chunk(path, offset, data, backup=ctx.store.upload_part(upload_id))
            hashing.keep()
            ctx.db.set_received(upload_id, received)
            _early.after_write(upload_id, path, received, trust_roots=ctx.ingest.trust_roots)
        except PartStored:
            return error(409, api.ErrorCode.CONFLICT, "this package is stored already: commit the upload")
        except Exception as exc:
            if _disk_full(exc):
                return _disk_full_answer()
            raise
    return jsonify({"upload_id": upload_id, "received": received})


class _HashAlong:
    """The package's running hash fed with one chunk, in a thread while the chunk is written and fsynced;
    `keep` (once the chunk is on disk) makes it the upload's. Only chunks that continue the hashed bytes
    count: any other chunk drops the running hash and the commit hashes the file instead."""

    def __init__(self, upload_id: str, offset: int, data: bytes):
        self.upload_id, self.end = upload_id, offset + len(data)
        hashed, digest = _running.get(upload_id, (0, None))
        self.digest = hashlib.sha256() if offset == 0 else digest.copy() if digest and offset == hashed else None
        self.thread = threading.Thread(target=self.digest.update, args=(data,)) if self.digest else None
        if self.thread:
            self.thread.start()

    def keep(self) -> None:
        if self.thread is None:
            _running.pop(self.upload_id, None)
            return
        self.thread.join()
        _running[self.upload_id] = (self.end, self.digest)


@bp.post("/api/v1/uploads/<upload_id>/commit")
@station_required
def commit(upload_id: str) -> ResponseReturnValue:
    ctx = _ctx()
    if _own_upload(upload_id) is None:  # checked before taking a per-upload lock for an unknown id
        return error(404, api.ErrorCode.NOT_FOUND, "no such upload")
    # No chunk may change the bytes being checked, and one commit per upload across the servers sharing the
    # records: the second one waits, then finds the upload finished and answers with the first one's receipt.
    with _commit_lock, _chunk_locks[upload_id], ctx.db.upload_lock(upload_id):
        row = _own_upload(upload_id)
        if row is None:
            return error(404, api.ErrorCode.NOT_FOUND, "no such upload")
        if row["state"] != "open":
            _early.drop(upload_id)  # committed by another server
            return jsonify(_status(row))
        if row["received"] != row["size"]:
            return error(409, api.ErrorCode.INCOMPLETE, f"{row['received']} of {row['size']} bytes received")
        path = part_path(ctx.config.uploads_dir, upload_id)
        hashed, digest = _running.pop(upload_id, (0, None))
        whole = digest.hexdigest().upper() if digest is not None and hashed == row["size"] else file_sha256(path)
        if whole != row["sha256"]:
            _early.drop(upload_id)
            ctx.db.set_received(upload_id, 0)
            path.unlink(missing_ok=True)
            ctx.store.drop_upload_part(upload_id)
            return error(409, api.ErrorCode.PACKAGE_HASH, "package hash differs from the manifest: upload again")
        early = _early.claim(upload_id, path)  # this process's jobs leave the registry whatever happens next
        try:
            receipt = ctx.ingest.commit(row, path, early=early)
            rework.new_version_stored(ctx.db, ctx.store, receipt)
        except Exception as exc:
            if _disk_full(exc):  # nothing was acknowledged: the upload stays open, the station retries
                log.warning("commit of %s postponed: disk full (%s)", upload_id, exc)
                return _disk_full_answer()
            raise
        finally:
            if early is not None:
                log.info("commit of %s: %d PDF jobs done while it arrived", upload_id, early.used)
                early.close()
        _chunk_locks.pop(upload_id, None)  # a finished upload takes no more chunks
        return jsonify({"upload_id": upload_id, "state": receipt.verdict, "receipt": receipt.to_dict()})


@bp.get(api.REWORK)
@station_required
def rework_list() -> ResponseReturnValue:
    """The hồ sơ this station made that the archive returned for rework (with their defects), and those it
    accepted or archived. Another station's hồ sơ never appear (server.archive.rework)."""
    ctx = _ctx()
    return jsonify(rework.station_view(ctx.db, ctx.store, g.station_id))


@bp.get(api.REWORK_PACKAGE)
@station_required
def rework_package() -> ResponseReturnValue:
    """The latest stored version of a hồ sơ on this station's rework list (for a station that no longer has its
    pages); anything else answers 404, as if it did not exist."""
    from flask import send_file

    ctx = _ctx()
    objid = request.args.get("objid", "")
    if not objid or len(objid) > 200 or not rework.may_fetch(ctx.db, ctx.store, g.station_id, objid):
        return error(404, api.ErrorCode.NOT_FOUND, "no hồ sơ with this OBJID on this station's rework list")
    stored = ctx.store.get(objid)
    response = send_file(stored.path, mimetype="application/zip", as_attachment=True,
                         download_name=stored.path.name)
    response.headers[api.HEADER_PACKAGE_SHA256] = stored.sha256
    return response
