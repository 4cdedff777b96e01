"""Acceptance (nghiệm thu) decisions with four eyes: an inspector proposes accept or return for a lot's hồ sơ
with the defects found; a different person validates it. The validator may be neither the inspector nor
anyone who made the hồ sơ (the operators named in its PREMIS history): 36 CFR 1236.56(b), "separate staff".

Validation moves the hồ sơ to `accepted` or `returned`; proposing moves them to `in_review`. Every proposal
and validation goes into the access log as a `decision`. (Signing the acceptance record, the biên bản
PDF/A, and moving accepted hồ sơ to `archived` come next.)
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from protocol.clock import iso_vn
from protocol.errors import UserError
from protocol.i18n import N_
from server.archive import audit, states
from server.records.db import Records

DECISIONS = ("accept", "return")
# defect class -> kinds (shared domain reference §3/§4; the list)
DEFECTS = {
    "critical": ("missing_page", "wrong_hoso"),
    "major": ("unreadable", "text_cut_off", "wrong_metadata", "wrong_order", "wrong_orientation"),
    "minor": ("skew", "crop"),
}



class DecisionError(UserError, ValueError):
    """A refused proposal or validation; `.text(lang)` is what the archivist sees."""


def _check_defects(defects: list[dict[str, Any]]) -> None:
    for d in defects:
        kinds = DEFECTS.get(d.get("class", ""), ())
        if d.get("kind") not in kinds:
            raise DecisionError(N_("unknown defect '%(defect_class)s'/'%(kind)s'"),
                                defect_class=d.get("class"), kind=d.get("kind"))


def propose(db: Records, *, lot: str, objids: list[str], decision: str, defects: list[dict[str, Any]],
            inspector: str, address: str, note: str = "", plan: dict[str, Any] | None = None,
            reason: str = "") -> str:
    """Record the inspector's proposal; the hồ sơ go to `in_review`. Returns the decision id.

    `plan`: the lot's ISO 2859-1 plan (server.archive.aql.plan, kept with its sample); its verdict on these
    defects is recorded with the proposal, and a proposal against it needs a written `reason`."""
    if decision not in DECISIONS:
        raise DecisionError(N_("decision must be one of %(decisions)s"), decisions=DECISIONS)
    if not objids:
        raise DecisionError(N_("a decision needs at least one hồ sơ"))
    _check_defects(defects)
    if decision == "accept" and any(d["class"] == "critical" for d in defects):
        raise DecisionError(N_("a lot with a critical defect cannot be accepted"))
    judged = ""
    reason = (reason or "").strip()
    if plan:
        from server.archive import aql

        found = aql.verdict(plan, defects)
        if found["verdict"] != decision and not reason:
            raise DecisionError(
                N_("the plan's verdict is %(verdict)s (d=%(d)s): a proposal against it needs a reason"),
                verdict=found["verdict"], d=found["d"])
        judged = json.dumps(dict(plan, d=found["d"], verdict=found["verdict"], rejected=found["rejected"]),
                            ensure_ascii=False)
    decision_id = uuid.uuid4().hex
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO acceptance_decisions (id, lot, objids, decision, defects, note, proposed_by, proposed_at,"
            " plan, plan_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (decision_id, lot, json.dumps(objids), decision, json.dumps(defects, ensure_ascii=False), note,
             inspector, iso_vn(), judged, reason if judged else ""),
        )
    for objid in objids:
        states.set_state(db, objid, "in_review", by=inspector)
    audit.record(db, actor=inspector, action="decision", target=lot, address=address,
                 detail=f"propose {decision} {decision_id} ({len(objids)} hồ sơ, {len(defects)} defects)"
                 + (f"; against the plan: {reason}" if judged and reason and json.loads(judged)["verdict"] != decision
                    else ""))
    return decision_id


def validate(db: Records, decision_id: str, *, validator: str, makers: set[str], address: str) -> dict[str, Any]:
    """A second person confirms the proposal; refuses the inspector and anyone who made the hồ sơ."""
    row = db.one("SELECT * FROM acceptance_decisions WHERE id = ?", (decision_id,))
    if row is None:
        raise DecisionError(N_("no decision %(decision_id)s"), decision_id=decision_id)
    if row["validated_by"]:
        raise DecisionError(N_("this decision was already validated"))
    if validator == row["proposed_by"]:
        raise DecisionError(N_("the inspector cannot validate their own proposal"))
    if validator in makers:
        raise DecisionError(N_("a person who digitised these hồ sơ cannot validate their acceptance"))
    with db.tx() as conn:
        done = conn.execute("UPDATE acceptance_decisions SET validated_by = ?, validated_at = ? "
                            "WHERE id = ? AND validated_by IS NULL", (validator, iso_vn(), decision_id)).rowcount
    if done != 1:
        raise DecisionError(N_("this decision was already validated"))
    target = "accepted" if row["decision"] == "accept" else "returned"
    for objid in json.loads(row["objids"]):
        states.set_state(db, objid, target, by=validator)
    from server.archive import rework  # rework reads decisions: imported here, not at the top

    rework.announce(db, json.loads(row["objids"]), target)  # the maker stations are told (MQTT)
    audit.record(db, actor=validator, action="decision", target=row["lot"], address=address,
                 detail=f"validate {row['decision']} {decision_id}")
    return dict(row, validated_by=validator, state=target)
