"""Operator-facing HTML pages. Each screen is a server-rendered page plus a little script (static/station.js)
that talks to /api; the database holds all state, so a reload shows exactly what was there."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from protocol import metadata as md
from protocol.i18n import N_
from sohoa.weberrors import lang, refuse
from sohoa.webi18n import current, set_language
from station.web.api import rejection_reasons
from station.web.session import accounts, load_session, request_token, require

bp = Blueprint("pages", __name__)

STATES = ("OPEN", "REVIEW", "FINISHING", "SEALED", "SYNCING", "SYNCED", "REJECTED")
PRESETS: tuple[tuple[str, str, dict[str, Any]], ...] = (  # id, kind, request, label (translated at render time)
    ("adf_duplex", "sane", {"source": "adf_duplex", "dpi": 300, "mode": "color"}),
    ("adf", "sane", {"source": "adf", "dpi": 300, "mode": "color"}),
    ("flatbed", "sane", {"source": "flatbed", "dpi": 300, "mode": "color"}),
    ("import", "import", {}),
)


def state_names() -> dict[str, str]:
    return {"OPEN": _("Scanning"), "REVIEW": _("Reviewing"), "FINISHING": _("Finishing"),
            "SEALED": _("Waiting to sync"), "SYNCING": _("Syncing"), "SYNCED": _("Archived"),
            "REJECTED": _("Rejected")}


def preset_names() -> dict[str, str]:
    return {"adf_duplex": _("Feeder, both sides, 300 dpi colour"), "adf": _("Feeder, one side, 300 dpi colour"),
            "flatbed": _("Glass, 300 dpi colour"), "import": _("Import a folder")}


def flag_names() -> dict[str, str]:
    """Short full names of the QC flag kinds (a badge shows the name; the page shows the whole message).
    A kind not listed here (a new check) is shown by its own message."""
    return {"low_dpi": _("Low resolution"), "skewed": _("Still skewed"), "overexposed": _("Too bright"),
            "underexposed": _("Too dark"), "low_contrast": _("Low contrast"), "blurry": _("Blurred"),
            "edge_content": _("Text at the edge"), "orientation": _("Turned automatically: check"),
            "auto_rotated": _("Turned automatically: check")}


def js_strings() -> dict[str, Any]:
    """Texts the scripts show, through the same catalogues as the templates."""
    return {
        "saved": _("Saved"), "error": _("Error"), "network": _("The station does not answer. Check the cable "
                                                                "or wait a moment, then try again."),
        "pages": _("pages"), "sheets": _("sheets"), "blank": _("Blank"), "skew": _("Skew fixed"),
        "rotated": _("Turned"), "processing": _("Processing…"), "flag": _("Check"), "accepted": _("Accepted"),
        "deleted": _("Deleted"), "confirm_delete": _("Delete this page? It can be restored until finish."),
        "wrong_pin": _("Wrong PIN"), "document": _("Document"), "split_here": _("Split here"),
        "scanning": _("Scanning…"), "idle": _("Ready"), "fault": _("Scanner problem"),
        "override_reason": _("Reason for letting this hồ sơ finish with open flags:"),
        "replace_pick": _("Scan the replacement page(s) now; they will take this page's place."),
        "field_required": _("Required"), "done": _("Done"), "step_start": _("Starting"),
        "step_ocr": _("Reading text (OCR)"), "step_pdfa": _("Making PDF/A"), "step_sign": _("Signing"),
        "step_package": _("Packing"),
        "receipt_ok": _("The archive server checked and stored this hồ sơ."), "received": _("Received"),
        "reading": _("Reading the first page…"), "no_suggestion": _("Nothing recognisable found on the first page."),
        "use_all": _("Use all"), "flags_ok": _("No open quality flags"), "moved": _("Moved"),
        "insert_pick": _("Tap the page after which to insert"),
        "pick_supervisor": _("Tap the supervisor's name, then type their PIN."),
        "fix_it": _("Fix"),
        "osk": _("On-screen keyboard"), "osk_space": _("space"),
        "flag_names": flag_names(), "accept_all": _("Accept all"), "open_n": _("open"),
        "accepted_n": _("accepted"), "flags_summary": _("Quality flags in this hồ sơ"),
        "continue_batch": _("Continue"), "select_several": _("Select several"), "pick_pages": _("Tap the pages first."),
        "overcount": _("{n} sheets scanned, more than the {e} of the work order: two sheets may have gone through "
                       "together (double feed). Check the last pages."),
    }


def _station() -> Any:
    return current_app.extensions["station"]


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    sess = None
    try:
        if request.endpoint not in ("pages.login", "static"):
            sess = load_session()
    except Exception:  # noqa: BLE001 - pages decide themselves whether a session is needed
        sess = None
    return {"me": sess, "state_names": state_names(), "js_strings": js_strings(),
            "lang": current(), "idle_lock_s": accounts().idle_lock_s}


# -- sessions ------------------------------------------------------------------------------------------
@bp.get("/login")
def login() -> ResponseReturnValue:
    token = request_token()[0]
    locked = accounts().locked_operator(token) if token else None
    return render_template("login.html", accounts=accounts().list(), locked=locked,
                           first_run=accounts().count() == 0, next=_safe_next(request.args.get("next")))


def _safe_next(target: str | None) -> str:
    from protocol.urls import safe_next

    return safe_next(target)  # only a path on this station: never an open redirect


@bp.post("/setup")
def setup() -> ResponseReturnValue:
    """First start: with no account at all, the person at the station creates the first admin."""
    if accounts().count():
        return refuse(403, "forbidden", N_("The station already has accounts; log in."))
    body = request.get_json(silent=True) or {}
    accounts().add(code=str(body.get("code", "")), name=str(body.get("name", "")), role="admin",
                   pin=str(body.get("pin", "")), actor="setup")
    return jsonify({"ok": True}), 201


@bp.get("/lang/<code>")
def set_lang(code: str) -> ResponseReturnValue:
    return set_language(make_response(redirect(_safe_next(request.args.get("next")))), code)


# -- screens -------------------------------------------------------------------------------------------
@bp.get("/")
def home() -> ResponseReturnValue:
    load_session()
    station = _station()
    return render_template("home.html", batches=station.store.batches(), screen="home",
                           outbox=_receipts(station))


def _receipts(station: Any) -> dict[int, dict]:
    import json

    out: dict[int, dict] = {}
    for row in station.store.query("SELECT batch_id, state, last_error, receipt FROM outbox ORDER BY id"):
        row["receipt"] = json.loads(row["receipt"]) if row["receipt"] else None
        row["reasons"] = rejection_reasons(row["receipt"], lang())
        out[row["batch_id"]] = row
    return out


@bp.get("/new")
def new_batch() -> ResponseReturnValue:
    sess = load_session()
    return render_template("new.html", screen="new", presets=preset_names(), is_admin=sess.can("admin"),
                           tables=_tables(), preset_requests={p[0]: {"kind": p[1], "request": p[2]} for p in PRESETS})


def _tables() -> dict[str, dict[str, str]]:
    return {"maintenance": md.MAINTENANCE, "mode": md.MODE, "language": md.LANGUAGE, "format": md.FORMAT,
            "type_name": md.TYPE_NAME, "confidence_level": md.CONFIDENCE, "risk_recovery_status": md.RISK_STATUS}


@bp.get("/batch/<int:batch_id>")
def batch(batch_id: int) -> ResponseReturnValue:
    load_session()
    state = _station().store.batch(batch_id)["state"]
    target = {"OPEN": "pages.scan", "REVIEW": "pages.review"}.get(state, "pages.finish")
    return redirect(url_for(target, batch_id=batch_id))


def _screen(name: str, batch_id: int, **extra: Any) -> str:
    load_session()
    station = _station()
    b = station.store.batch(batch_id)
    return render_template(f"{name}.html", screen=name, batch=b, presets=preset_names(),
                           preset_requests={p[0]: {"kind": p[1], "request": p[2]} for p in PRESETS}, **extra)


@bp.get("/batch/<int:batch_id>/scan")
def scan(batch_id: int) -> ResponseReturnValue:
    return _screen("scan", batch_id)


@bp.get("/batch/<int:batch_id>/review")
def review(batch_id: int) -> ResponseReturnValue:
    supervisors = [a for a in accounts().list() if a["role"] in ("supervisor", "admin")]
    return _screen("review", batch_id, supervisors=supervisors)


@bp.get("/batch/<int:batch_id>/documents")
def documents(batch_id: int) -> ResponseReturnValue:
    return _screen("documents", batch_id, tables=_tables())


@bp.get("/batch/<int:batch_id>/finish")
def finish(batch_id: int) -> ResponseReturnValue:
    from station.web.api import needs_pin

    return _screen("finish", batch_id, needs_pin=needs_pin(_station()))


@bp.get("/accounts")
def accounts_page() -> ResponseReturnValue:
    require("admin")
    return render_template("accounts.html", screen="accounts", accounts=accounts().list())
