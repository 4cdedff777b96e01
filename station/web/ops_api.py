"""Station API added for the operator's second pass (issue #18): the checklist before finishing and
accepting every flag of one kind at once. A blueprint of its own so that api.py stays as it was; the same
login rule (every endpoint needs a session) and the same error answers (app._errors) apply."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from protocol.i18n import N_
from protocol.inputs import get_ints, get_str
from sohoa.weberrors import refuse
from station import review as rv
from station.web import checklist
from station.web.api import _body
from station.web.api import _needs_login as _api_rules
from station.web.session import actor

bp = Blueprint("api_ops", __name__, url_prefix="/api")


def _station() -> Any:
    return current_app.extensions["station"]


@bp.before_request
def _needs_login() -> None:
    _api_rules()  # the same login rule and read-only guard as every other /api endpoint


@bp.get("/batches/<int:batch_id>/checklist")
def batch_checklist(batch_id: int) -> ResponseReturnValue:
    """Every reason the hồ sơ cannot be finished now: {"ready": bool, "problems": [...]}."""
    found = checklist.problems(_station().store, batch_id)
    return jsonify({"ready": not found, "problems": found})


@bp.post("/batches/<int:batch_id>/accept-flags")
def accept_kind(batch_id: int) -> ResponseReturnValue:
    """{"code": flag code} → accepts that flag on every page of the hồ sơ that carries it, in one step."""
    code = get_str(_body(), "code", max_len=64).strip()
    if not code:
        return refuse(400, "bad_request", N_("Choose the kind of flag to accept."))
    pages = rv.accept_kind(_station().store, batch_id, code, actor=actor())
    return jsonify({"pages": pages, "count": len(pages)})


@bp.post("/batches/<int:batch_id>/documents/start")
def start_document(batch_id: int) -> ResponseReturnValue:
    """{"page_ids": [...]} picked in review → they become one document; the saved split follows."""
    ids = get_ints(_body(), "page_ids")
    if not ids:
        return refuse(400, "bad_request", N_("No page is selected."))
    return jsonify({"documents": rv.start_document(_station().store, batch_id, ids, actor=actor())})
