"""The states of a stored hồ sơ in the archive, defined once, and where each hồ sơ's state is kept.

A hồ sơ (by OBJID) is `received` when it was stored and nobody has looked at it yet; acceptance (nghiệm thu)
moves it to `in_review`, then `accepted` or `returned`, and `archived` once the acceptance is signed.
Only hồ sơ that left `received` have a row: everything stored today is `received` without one.
"""

from __future__ import annotations

from typing import Any

from protocol.clock import iso_vn
from server.records.db import Records

STATES = ("received", "in_review", "accepted", "returned", "archived")
DEFAULT = STATES[0]



def state_of(db: Records, objids: list[str]) -> dict[str, str]:
    """OBJID -> state for each of `objids` (the default when none was recorded)."""
    out = dict.fromkeys(objids, DEFAULT)
    if objids:
        marks = ",".join("?" * len(objids))
        for row in db.query(f"SELECT objid, state FROM archive_states WHERE objid IN ({marks})", tuple(objids)):
            out[row["objid"]] = row["state"]
    return out


def set_state(db: Records, objid: str, state: str, *, by: str) -> None:
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}; one of {', '.join(STATES)}")
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO archive_states (objid, state, changed_at, changed_by) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(objid) DO UPDATE SET state = excluded.state, changed_at = excluded.changed_at,"
            " changed_by = excluded.changed_by",
            (objid, state, iso_vn(), by),
        )


def counts(db: Records, objids: list[str]) -> dict[str, Any]:
    states = state_of(db, objids)
    return {s: sum(1 for v in states.values() if v == s) for s in STATES}
