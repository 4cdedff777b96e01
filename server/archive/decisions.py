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
    """A refused proposal or validation; `message_vi` is what the archivist sees."""

    def __init__(self, message: str, message_vi: str):
        super().__init__(message, message_vi)


def _check_defects(defects: list[dict[str, Any]]) -> None:
    for d in defects:
        kinds = DEFECTS.get(d.get("class", ""), ())
        if d.get("kind") not in kinds:
            raise DecisionError(f"unknown defect {d.get('class')!r}/{d.get('kind')!r}",
                                "Loại lỗi không hợp lệ")


def propose(db: Records, *, lot: str, objids: list[str], decision: str, defects: list[dict[str, Any]],
            inspector: str, address: str, note: str = "") -> str:
    """Record the inspector's proposal; the hồ sơ go to `in_review`. Returns the decision id."""
    if decision not in DECISIONS:
        raise DecisionError(f"decision must be one of {DECISIONS}", "Quyết định phải là đạt hoặc trả lại")
    if not objids:
        raise DecisionError("a decision needs at least one hồ sơ", "Chưa chọn hồ sơ nào")
    _check_defects(defects)
    if decision == "accept" and any(d["class"] == "critical" for d in defects):
        raise DecisionError("a lot with a critical defect cannot be accepted",
                            "Lô có lỗi nghiêm trọng không thể được nghiệm thu đạt")
    decision_id = uuid.uuid4().hex
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO acceptance_decisions (id, lot, objids, decision, defects, note, proposed_by, proposed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (decision_id, lot, json.dumps(objids), decision, json.dumps(defects, ensure_ascii=False), note,
             inspector, iso_vn()),
        )
    for objid in objids:
        states.set_state(db, objid, "in_review", by=inspector)
    audit.record(db, actor=inspector, action="decision", target=lot, address=address,
                 detail=f"propose {decision} {decision_id} ({len(objids)} hồ sơ, {len(defects)} defects)")
    return decision_id


def validate(db: Records, decision_id: str, *, validator: str, makers: set[str], address: str) -> dict[str, Any]:
    """A second person confirms the proposal; refuses the inspector and anyone who made the hồ sơ."""
    row = db.one("SELECT * FROM acceptance_decisions WHERE id = ?", (decision_id,))
    if row is None:
        raise DecisionError(f"no decision {decision_id}", "Không tìm thấy đề xuất nghiệm thu")
    if row["validated_by"]:
        raise DecisionError("this decision was already validated", "Đề xuất này đã được phê duyệt")
    if validator == row["proposed_by"]:
        raise DecisionError("the inspector cannot validate their own proposal",
                            "Người kiểm tra không được tự phê duyệt đề xuất của mình")
    if validator in makers:
        raise DecisionError("a person who digitised these hồ sơ cannot validate their acceptance",
                            "Người đã số hóa hồ sơ không được phê duyệt nghiệm thu hồ sơ đó")
    with db.tx() as conn:
        done = conn.execute("UPDATE acceptance_decisions SET validated_by = ?, validated_at = ? "
                            "WHERE id = ? AND validated_by IS NULL", (validator, iso_vn(), decision_id)).rowcount
    if done != 1:
        raise DecisionError("this decision was already validated", "Đề xuất này đã được phê duyệt")
    target = "accepted" if row["decision"] == "accept" else "returned"
    for objid in json.loads(row["objids"]):
        states.set_state(db, objid, target, by=validator)
    from server.archive import rework  # rework reads decisions: imported here, not at the top

    rework.announce(db, json.loads(row["objids"]), target)  # the maker stations are told (MQTT)
    audit.record(db, actor=validator, action="decision", target=row["lot"], address=address,
                 detail=f"validate {row['decision']} {decision_id}")
    return dict(row, validated_by=validator, state=target)
