"""The station's JSON API: login, batches, scanning, review, documents, finishing. The UI and the demo
use only this. Every endpoint except /api/login and /api/status needs a logged-in session (session.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_file, stream_with_context
from flask.typing import ResponseReturnValue

from protocol.errors import Joined, Message, NotFound, say, with_texts
from protocol.i18n import DEFAULT, N_
from protocol.inputs import InputError, get_dict, get_float, get_int, get_ints, get_list, get_str
from sohoa.weberrors import lang, refuse
from station import review as rv
from station.web import health
from station.web.session import accounts, actor, current, load_session, require, set_cookie

bp = Blueprint("api", __name__, url_prefix="/api")
WAIT_MAX_S = 60
PUBLIC = {"api.login", "api.unlock", "api.logout", "api.status"}


def _station() -> Any:
    return current_app.extensions["station"]


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _bad(message: str | Message, status: int = 400, **extra: Any) -> Any:
    """A refusal answered here rather than raised: `message` a msgid, or say(msgid, **params)."""
    return refuse(status, extra.pop("error", "bad_request"), message, **extra)


@bp.before_request
def _needs_login() -> None:
    if request.endpoint not in PUBLIC:
        load_session()
    _read_only_guard()


def _read_only_guard() -> None:
    """No change reaches a hồ sơ whose package is built or sent (store.READ_ONLY), whatever the endpoint."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.endpoint in ("api.wait", "api.stop"):
        return
    args = request.view_args or {}
    store = _station().store
    try:
        batch_id = args["batch_id"] if "batch_id" in args else store.page(args["page_id"])["batch_id"]
        store.check_editable(batch_id)
    except KeyError:
        return  # no batch or page: the endpoint answers as it always has (400 for a bad body, else 404)


# -- sessions ------------------------------------------------------------------------------------------
@bp.post("/login")
def login() -> ResponseReturnValue:
    """{"operator": code, "pin": digits} → {"token", "csrf", "operator", "name", "role"}; also sets the cookie."""
    body = _body()
    sess = accounts().login(get_str(body, "operator", max_len=64), get_str(body, "pin", max_len=64),
                            address=request.remote_addr or "?")
    resp = jsonify({"token": sess.token, **sess.to_dict()})
    set_cookie(resp, sess.token)
    return resp


@bp.post("/unlock")
def unlock() -> ResponseReturnValue:
    from station.web.session import request_token

    sess = accounts().unlock(request_token()[0], str(_body().get("pin", "")))
    return jsonify(sess.to_dict())


@bp.post("/lock")
def lock() -> ResponseReturnValue:
    from station.web.session import request_token

    accounts().lock(request_token()[0])
    return jsonify({"ok": True})


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    from station.web.session import COOKIE, request_token

    accounts().logout(request_token()[0])
    resp = jsonify({"ok": True})
    resp.delete_cookie(COOKIE, path="/")
    return resp


@bp.get("/me")
def me() -> ResponseReturnValue:
    return jsonify(current().to_dict())


@bp.get("/accounts")
def accounts_list() -> ResponseReturnValue:
    """The accounts (no PIN data), for a logged-in user: the login screen renders its own buttons."""
    return jsonify({"accounts": accounts().list()})


@bp.post("/accounts")
def accounts_add() -> ResponseReturnValue:
    sess = require("admin")
    body = _body()
    accounts().add(code=str(body.get("code", "")), name=str(body.get("name", "")),
                   role=str(body.get("role", "operator")), pin=str(body.get("pin", "")), actor=sess.operator)
    return jsonify({"ok": True}), 201


# -- station -------------------------------------------------------------------------------------------
@bp.get("/status")
def status() -> ResponseReturnValue:
    station = _station()
    return jsonify({**station.status(), "health": health.check(station)})


@bp.get("/workorders")
def workorders() -> ResponseReturnValue:
    station = _station()
    if not station.sync_client:
        return jsonify({"workorders": [], **say(N_("The station is not connected to the archive server.")).as_dict()})
    from station.sync.client import SyncError
    from station.web.workorders import offered

    try:
        found = offered(station)
    except SyncError as exc:
        return refuse(503, "unreachable", say(N_("The archive server cannot be reached (%(error)s); try again later."),
                                              error=str(exc)), workorders=[])
    if found["cached_at"]:
        at = found["cached_at"]
        found.update(say(N_("The archive server does not answer: using the list of work orders saved at %(time)s "
                            "on %(day)s."), time=at[11:16], day=f"{at[8:10]}/{at[5:7]}").as_dict())
    return jsonify(found)


@bp.post("/cover")
def cover() -> ResponseReturnValue:
    """Read a cover sheet's QR (glass, or an import folder) → {"file_code", "workorder"} from the server's list."""
    from station.web.cover import CoverError, match_workorder, read_cover

    station = _station()
    body = _body()
    kind = get_str(body, "kind", "sane", max_len=16)
    if kind == "import":
        options: dict[str, Any] = {"folder": _import_folder(station, get_str(body, "folder", max_len=200))}
    else:
        options = {"device": get_str(body, "device", max_len=200) or station.config.device}
        if str(station.capture.states.get(options["device"], "")) in ("SCANNING", "STOPPING"):
            return _bad(N_("The scanner is scanning. Wait for the scan to end, then scan the cover sheet."), 409,
                        error="busy")
    code = read_cover(kind, options)
    if not station.sync_client:
        raise CoverError("no_workorder", N_("The station is not connected to the archive server: there are no work "
                                            "orders."))
    from station.web.workorders import offered

    wo = match_workorder(code, offered(station)["workorders"])
    station.store.audit(actor(), "cover.read", None, file_code=code, work_order=wo.get("id"))
    return jsonify({"file_code": code, "workorder": wo})


@bp.get("/batches")
def batches() -> ResponseReturnValue:
    return jsonify({"batches": _station().store.batches()})


def _server_workorders(station: Any) -> list[dict]:
    """The server's work orders for this station; the list saved on disk when the server cannot be reached."""
    from station.sync.client import SyncError
    from station.web.workorders import offered

    if not station.sync_client:
        return []
    try:
        return offered(station)["workorders"]
    except SyncError:
        return []


@bp.post("/batches")
def open_batch() -> ResponseReturnValue:
    body = _body()
    wo_id = body.get("work_order_id")
    station = _station()
    order: dict[str, Any] = {}
    if wo_id is not None and not isinstance(wo_id, str):
        raise InputError(N_("work_order_id must be a string"))
    if not wo_id:
        require("admin")  # a hồ sơ typed in by hand, not sent by the server
        record = get_dict(body, "record")
        expected = get_int(body, "expected_sheets", lo=0, hi=1_000_000)
    else:
        # The hồ sơ comes from the server's work order, never from the request: an unknown id is not a way
        # around the admin-only typed-in hồ sơ.
        found = next((o for o in _server_workorders(station) if o.get("id") == wo_id), None)
        if found is None:
            return _bad(say(N_("work order '%(wo_id)s' is not in the server's list for this station"),
                            wo_id=str(wo_id)[:64]), 404, error="unknown_workorder")
        order = found
        record, expected = order.get("record") or {}, order.get("expected_sheets")
    from station.web import qc_profile

    # The thresholds travel with the work order too (never taken from the request for a server's work order).
    raw_profile = (order.get("qc_profile") or record.get("qc_profile")) if wo_id else body.get("qc_profile")
    record = {k: v for k, v in record.items() if k != "qc_profile"}
    profile = qc_profile.check(raw_profile) if raw_profile else None  # the work order's thresholds
    batch = station.open_batch(record=record, expected_sheets=expected, work_order_id=wo_id, operator=actor())
    if profile:
        qc_profile.save(station.store, batch["id"], profile, actor=actor())
    return jsonify(batch), 201


def rejection_reasons(receipt: dict | None, lang: str = DEFAULT) -> list[str]:
    """The server's reasons: each failed check's summary in `lang` (it travels by key), else its English lines."""
    if not receipt:
        return []
    failed = [c for c in receipt.get("checks") or [] if not c.get("ok", True)]
    said = [Message.from_dict(c).text(lang) if c.get("msgid") else "; ".join(c.get("reasons") or []) for c in failed]
    return [r for r in said if r] or list(receipt.get("reasons") or [])


def batch_view(station: Any, batch_id: int) -> dict:
    row = station.store.batch(batch_id)
    row["pages"] = station.store.pages(batch_id)
    row["deleted_pages"] = [p for p in station.store.pages(batch_id, include_deleted=True) if p["deleted"]]
    row["documents"] = station.store.documents(batch_id)
    row["finishing"] = station.finishing.get(batch_id)
    row["error"] = station.last_error.get(batch_id)
    row["outbox"] = station.store.query("SELECT id, state, attempts, last_error, receipt FROM outbox"
                                        " WHERE batch_id = ? ORDER BY id", (batch_id,))
    for item in row["outbox"]:  # the archive's reasons, by key: shown in the operator's language
        item["reasons"] = rejection_reasons(json.loads(item["receipt"]) if item["receipt"] else None, lang())
    row["unresolved"] = rv.unresolved(station.store, batch_id)
    row["overridden"] = rv.overridden(station.store, batch_id)
    row["scanner"] = str(getattr(station.capture.state, "value", station.capture.state))
    fault = _fault(station, batch_id)
    row["fault"] = fault
    outcome = station.capture.outcome(station.config.device)  # "empty": the feeder ran dry (normal end)
    row["scan_ended"] = outcome.ended if outcome is not None else None
    return row


def _fault(station: Any, batch_id: int) -> dict | None:
    for device, state in station.capture.states.items():
        if str(state) == "FAULT":
            fault = station.capture.fault(device)
            if fault is not None and hasattr(fault, "as_dict"):
                return fault.as_dict()
            if fault is not None:
                said = fault.said if hasattr(fault, "said") else say(N_("Scanner fault: %(error)s"), error=str(fault))
                return {"code": getattr(fault, "code", "fault"), **said.as_dict(), "message": str(fault),
                        "device": device}
    return None


@bp.get("/batches/<int:batch_id>")
def batch(batch_id: int) -> ResponseReturnValue:
    return jsonify(batch_view(_station(), batch_id))


@bp.get("/batches/<int:batch_id>/events")
def events(batch_id: int) -> ResponseReturnValue:
    """Server-sent events: the batch view each time it changes. The stream ends after ~25 s (the
    browser's EventSource reconnects) so that an open screen never pins a server thread for long."""
    from sohoa.streams import RETRY_AFTER_S

    station = _station()
    station.store.batch(batch_id)  # 404 before the stream starts
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's documented way to the app
    limiter, key = app.extensions["streams"], actor()
    if not limiter.acquire(key):  # streams never take the threads that serve the operator's actions
        resp, status = _bad(N_("Too many live views are open; close some and try again."),
                            429, error="too_many_streams")
        return resp, status, {"Retry-After": str(RETRY_AFTER_S)}

    shown = lang()  # the operator's language, for the flags' and faults' words (protocol.errors.with_texts)

    def stream() -> Iterator[str]:
        last = None
        deadline = time.monotonic() + 25
        yield "retry: 1000\n\n"
        while time.monotonic() < deadline:
            with app.app_context():
                view = batch_view(station, batch_id)
            data = json.dumps(with_texts(view, shown), ensure_ascii=False, default=str)
            if data != last:
                last = data
                yield f"event: batch\ndata: {data}\n\n"
            else:
                yield ": keep-alive\n\n"
            time.sleep(0.5)

    return Response(limiter.guarded(key, stream_with_context(stream())), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.post("/batches/<int:batch_id>/scan")
def scan(batch_id: int) -> ResponseReturnValue:
    station = _station()
    body = _body()
    kind = get_str(body, "kind", "sane", max_len=16)
    scan_request = get_dict(body, "request")
    options: dict[str, Any] = {}
    if kind == "sane":
        options["device"] = get_str(body, "device", max_len=200) or station.config.device
    elif kind == "import":
        options["folder"] = _import_folder(station, get_str(body, "folder", max_len=200))
    else:
        return _bad(say(N_("unknown source kind '%(kind)s'"), kind=kind))
    if kind == "sane":
        station.capture.clear_fault(options["device"])  # "Quét tiếp" after the operator fixed the fault
    station.scan(batch_id, kind=kind, options=options, request=scan_request, actor=actor())
    current_app.extensions["last_scan"].remember(batch_id=batch_id, kind=kind, options=options,
                                                 request=scan_request, actor=actor())
    return jsonify({"ok": True}), 202


@bp.post("/trigger")
def trigger() -> ResponseReturnValue:
    """The same as a press of the hardware button / pedal: repeat the last scan (debounced)."""
    load_session()
    fired = current_app.extensions["trigger"].press()
    return jsonify({"fired": fired})


@bp.post("/batches/<int:batch_id>/stop")
def stop(batch_id: int) -> ResponseReturnValue:
    station = _station()
    station.capture.stop()
    station.store.audit(actor(), "capture.stop_requested", batch_id)
    return jsonify({"ok": True})


@bp.get("/import-folders")
def import_folders() -> ResponseReturnValue:
    root = _station().config.data_dir / "import"
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if root.is_dir() else []
    return jsonify({"folders": names})


def _import_folder(station: Any, name: str) -> Path:
    """Import folders live under <data>/import/; a name from the request never escapes it."""
    from station.service import data_path

    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise NotFound(N_("import folder '%(name)s'"), name=name)
    path = data_path(station.config, f"import/{name}")
    if not path.is_dir():
        raise NotFound(N_("import folder '%(name)s'"), name=name)
    return path


@bp.post("/batches/<int:batch_id>/wait")
def wait(batch_id: int) -> ResponseReturnValue:
    # At most a minute: a waiting request holds a server thread (clients ask again while not idle).
    timeout = get_float(_body(), "timeout", 30, lo=0, hi=WAIT_MAX_S)
    idle = _station().wait_idle(timeout)
    return jsonify({"idle": idle, "scanner": str(getattr(_station().capture.state, "value", ""))})


@bp.post("/batches/<int:batch_id>/review")
def to_review(batch_id: int) -> ResponseReturnValue:
    station = _station()
    if station.store.batch(batch_id)["state"] == "REVIEW":
        return jsonify({"ok": True})
    station.to_review(batch_id, actor=actor())
    return jsonify({"ok": True})


@bp.post("/batches/<int:batch_id>/reopen")
def reopen(batch_id: int) -> ResponseReturnValue:
    """A rejected hồ sơ goes back to review, to be fixed and finished (and sent) again."""
    from station.store import BatchState

    _station().store.transition(batch_id, BatchState.REVIEW, actor=actor(), reason="fix after rejection")
    return jsonify({"ok": True})


@bp.put("/batches/<int:batch_id>/record")
def update_record(batch_id: int) -> ResponseReturnValue:
    """The hồ sơ form. The file code (agency, year, notation) stays: pages are already filed under it."""
    from protocol.metadata import FileRecord, MetadataError, check_file

    station = _station()
    batch = station.store.batch(batch_id)
    record = {**batch["record"], **get_dict(_body(), "record")}
    for key in ("agency_id", "year", "notation"):
        record[key] = batch["record"].get(key, record.get(key))
    hoso = FileRecord(**_known(FileRecord, record))
    problems = [p for p in check_file(hoso) if not p.warning and p.field != "number_of_paper"]
    if problems:
        raise MetadataError(problems)
    station.store.update_record(batch_id, hoso.to_dict(), actor=actor())
    return jsonify({"ok": True})


def _known(cls: type, record: dict) -> dict:
    from dataclasses import fields

    names = {f.name for f in fields(cls)}
    return {k: v for k, v in record.items() if k in names}


@bp.post("/batches/<int:batch_id>/documents")
def documents(batch_id: int) -> ResponseReturnValue:
    docs = get_list(_body(), "documents")
    if not docs:
        return _bad(N_("documents must be a non-empty list"))
    if not all(isinstance(d, dict) and isinstance(d.get("record"), dict) and isinstance(d.get("ordinal"), int)
               and not isinstance(d.get("ordinal"), bool) for d in docs):  # the store needs both ({} was a 500)
        raise InputError(N_("each document must be an object with a whole-number ordinal and a record object"))
    if request.args.get("check"):
        problems = _document_problems(_station(), batch_id, docs)
        if problems:
            return _bad(N_("invalid document metadata"), 422,
                        error="invalid_metadata", problems=problems)
    _station().set_documents(batch_id, docs, actor=actor())
    return jsonify({"ok": True})


def _document_problems(station: Any, batch_id: int, docs: list[dict]) -> list[dict]:
    from protocol.metadata import DocumentRecord, check_document

    file_code = station.store.batch(batch_id)["file_code"]
    out = []
    for i, doc in enumerate(docs):
        try:
            record = DocumentRecord(**_known(DocumentRecord, doc.get("record") or {}))
        except TypeError as exc:
            out.append({"document": i, "field": "", **say(N_("A required field of the document is missing "
                                                                 "(%(error)s)."), error=str(exc)).as_dict()})
            continue
        out += [{"document": i, "field": p.field, **p.said.as_dict()}
                for p in check_document(record, file_code) if not p.warning]
    return out


@bp.post("/check/file")
def check_file_record() -> ResponseReturnValue:
    """Validate a hồ sơ form without saving: problems by field, in Vietnamese."""
    from protocol.metadata import FileRecord, check_file

    record = dict(get_dict(_body(), "record"))
    try:
        record["year"] = int(record.get("year") or 0)
        hoso = FileRecord(**_known(FileRecord, record))
    except (TypeError, ValueError) as exc:
        return jsonify({"problems": [{"field": "", **say(N_("A required field of the hồ sơ is missing (%(error)s)."),
                                                          error=str(exc)).as_dict()}]})
    problems = [{"field": p.field, **p.said.as_dict()}
                for p in check_file(hoso) if not p.warning and p.field != "number_of_paper"]
    return jsonify({"problems": problems})


@bp.post("/batches/<int:batch_id>/finish")
def finish(batch_id: int) -> ResponseReturnValue:
    from station.web.checklist import problems

    station = _station()
    found = problems(station.store, batch_id)  # the same list the finish screen shows, before any OCR
    if not rv.can_finish(station.store, batch_id):
        return _bad(N_("unresolved QC flags: accept or rescan the pages, or a supervisor overrides"), 409,
                    error="unresolved_flags",
                    pages=rv.unresolved(station.store, batch_id), problems=found)
    if found:
        return _bad(say(N_("The hồ sơ is not ready to finish: %(problems)s"),
                        problems=Joined([Message.from_dict(p) for p in found], " ")), 409,
                    error="not_ready", problems=found)
    station.last_error.pop(batch_id, None)  # a new attempt: the last one's error no longer stands
    pin = get_str(_body(), "pin", max_len=64)
    if needs_pin(station):
        if not pin:
            return _bad(N_("the signing token's PIN is needed"), 400,
                        error="pin_required")
        station.signer(pin=str(pin))  # opens the token now: a wrong PIN is answered here, not in a thread
    station.finish(batch_id, actor=actor())
    return jsonify({"ok": True}), 202


def needs_pin(station: Any) -> bool:
    """A PKCS#11 token without a PIN file: the operator types the PIN on the finish screen."""
    return bool(station.config.pkcs11_module and not station.config.pkcs11_pin_file)


# -- review ----------------------------------------------------------------------------------------------
@bp.post("/pages/<int:page_id>/rotate")
def page_rotate(page_id: int) -> ResponseReturnValue:
    by = get_int(_body(), "by", 90, lo=-360, hi=360)
    return jsonify({"rotation": rv.rotate(_station().store, page_id, by=by, actor=actor())})


@bp.post("/pages/<int:page_id>/delete")
def page_delete(page_id: int) -> ResponseReturnValue:
    rv.set_deleted(_station().store, page_id, True, actor=actor())
    return jsonify({"ok": True})


@bp.post("/pages/<int:page_id>/restore")
def page_restore(page_id: int) -> ResponseReturnValue:
    rv.set_deleted(_station().store, page_id, False, actor=actor())
    return jsonify({"ok": True})


@bp.post("/pages/<int:page_id>/keep")
def page_keep(page_id: int) -> ResponseReturnValue:
    """A page the blank detector set apart goes back into the hồ sơ."""
    rv.set_blank(_station().store, page_id, False, actor=actor())
    return jsonify({"ok": True})


@bp.post("/pages/<int:page_id>/accept")
def page_accept(page_id: int) -> ResponseReturnValue:
    return jsonify({"flags": rv.accept_flags(_station().store, page_id, actor=actor())})


@bp.post("/batches/<int:batch_id>/move")
def pages_move(batch_id: int) -> ResponseReturnValue:
    body = _body()
    order = rv.move(_station().store, batch_id, get_ints(body, "page_ids"), after=get_int(body, "after"),
                    actor=actor())
    return jsonify({"order": order})


@bp.post("/batches/<int:batch_id>/reorder")
def pages_reorder(batch_id: int) -> ResponseReturnValue:
    order = rv.reorder(_station().store, batch_id, get_ints(_body(), "order"), actor=actor())
    return jsonify({"order": order})


@bp.post("/batches/<int:batch_id>/replace")
def pages_replace(batch_id: int) -> ResponseReturnValue:
    body = _body()
    order = rv.replace(_station().store, batch_id, get_ints(body, "old"), get_ints(body, "new"), actor=actor())
    return jsonify({"order": order})


@bp.post("/batches/<int:batch_id>/override")
def qc_override(batch_id: int) -> ResponseReturnValue:
    """A supervisor allows finishing with open flags: logged in, or at the operator's screen with their
    code and PIN ({"supervisor", "pin", "reason"}); the audit row names the supervisor."""
    body = _body()
    supervisor = get_str(body, "supervisor", max_len=64)
    reason = get_str(body, "reason", max_len=500)
    if not supervisor:
        require("supervisor")
    if not reason.strip():
        return _bad(N_("Write the reason for letting it finish."), 400, error="reason_required")
    if supervisor:
        load_session()
        from station.auth import AuthError

        try:
            who = accounts().verify(supervisor, get_str(body, "pin", max_len=64),
                                   address=request.remote_addr or "?")
        except AuthError as exc:  # a 401 would send the operator's own screen to the login page
            if exc.code != "bad_login":
                raise
            return _bad(exc.said, 403, error="wrong_pin")
        operator, role = who["code"], who["role"]
    else:
        sess = require("supervisor")
        operator, role = sess.operator, sess.role
    if role not in ("supervisor", "admin"):
        return _bad(N_("Only a supervisor or an administrator may let a hồ sơ with flagged pages finish."),
                    403, error="forbidden")
    rv.override(_station().store, batch_id, reason=reason, actor=operator, role=role)
    return jsonify({"ok": True})


@bp.post("/batches/<int:batch_id>/split")
def split(batch_id: int) -> ResponseReturnValue:
    """{"mode": "separators"} or {"starts": [page ids]} → {"groups": [[page ids], ...]} (not saved)."""
    body = _body()
    store = _station().store
    if body.get("mode") == "separators":
        groups = rv.split_by_separators(store, batch_id, actor=actor())
    else:
        groups = rv.split_at(store, batch_id, get_ints(body, "starts"))
    return jsonify({"groups": groups})


@bp.get("/pages/<int:page_id>/image")
def page_image(page_id: int) -> ResponseReturnValue:
    from station.service import data_path

    station = _station()
    page = station.store.page(page_id)
    rel = page["derivative_path"] if request.args.get("processed") and page["derivative_path"] else page["path"]
    path = data_path(station.config, rel)
    if request.args.get("thumb"):
        return send_file(health.thumbnail(station.config.data_dir, path, rel), mimetype="image/jpeg",
                         max_age=3600)
    return send_file(path, mimetype="image/png")


@bp.get("/pages/<int:page_id>/suggest")
def page_suggest(page_id: int) -> ResponseReturnValue:
    """OCR suggestions for the document that starts at this page: 202 while Tesseract reads it."""
    _station().store.page(page_id)  # 404 for an unknown page
    result = current_app.extensions["suggest"].get(page_id)
    return jsonify(result), 202 if result["state"] == "running" else 200


@bp.get("/audit")
def audit() -> ResponseReturnValue:
    require("supervisor")
    batch_id = request.args.get("batch", type=int)
    sql = "SELECT * FROM audit" + (" WHERE batch_id = ?" if batch_id else "") + " ORDER BY id DESC LIMIT 200"
    return jsonify({"audit": _station().store.query(sql, (batch_id,) if batch_id else ())})
