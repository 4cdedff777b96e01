"""Acceptance decisions with four eyes, on both record backends: the inspector and the operators who made
the hồ sơ cannot validate; a second person's validation moves the hồ sơ to accepted or returned; a critical
defect cannot be accepted; every step is in the access log."""

from __future__ import annotations

import pytest
from records_support import open_records, records, records_target  # noqa: F401 - fixtures

from server.archive import audit, decisions, states
from server.archive.decisions import DecisionError

DEFECT = {"class": "major", "kind": "unreadable", "doc_id": "D.1", "page": 2, "note": "mờ"}


def test_four_eyes_and_states(records):  # noqa: F811 - fixture
    did = decisions.propose(records, lot="WO-1", objids=["urn:a", "urn:b"], decision="return", defects=[DEFECT],
                            inspector="kiem.tra", address="10.0.0.2")
    assert states.state_of(records, ["urn:a", "urn:b"]) == {"urn:a": "in_review", "urn:b": "in_review"}
    with pytest.raises(DecisionError, match="own proposal"):
        decisions.validate(records, did, validator="kiem.tra", makers={"le.van.quet"}, address="x")
    with pytest.raises(DecisionError, match="digitised"):
        decisions.validate(records, did, validator="le.van.quet", makers={"le.van.quet"}, address="x")
    done = decisions.validate(records, did, validator="truong.phong", makers={"le.van.quet"}, address="10.0.0.3")
    assert done["state"] == "returned"
    assert states.state_of(records, ["urn:a"]) == {"urn:a": "returned"}
    with pytest.raises(DecisionError, match="already"):
        decisions.validate(records, did, validator="another", makers=set(), address="x")
    log = [(e["actor"], e["action"], e["target"]) for e in audit.entries(records)]
    assert log == [("truong.phong", "decision", "WO-1"), ("kiem.tra", "decision", "WO-1")]


def test_accept_then_refusals(records):  # noqa: F811 - fixture
    did = decisions.propose(records, lot="WO-2", objids=["urn:c"], decision="accept",
                            defects=[{"class": "minor", "kind": "skew"}], inspector="kiem.tra", address="x")
    assert decisions.validate(records, did, validator="truong.phong", makers=set(), address="x")["state"] == "accepted"
    with pytest.raises(DecisionError, match="critical"):
        decisions.propose(records, lot="WO-3", objids=["urn:d"], decision="accept",
                          defects=[{"class": "critical", "kind": "missing_page"}], inspector="k", address="x")
    with pytest.raises(DecisionError, match="unknown defect"):
        decisions.propose(records, lot="WO-3", objids=["urn:d"], decision="return",
                          defects=[{"class": "minor", "kind": "coffee stain"}], inspector="k", address="x")
    with pytest.raises(DecisionError):
        decisions.propose(records, lot="WO-3", objids=[], decision="return", defects=[], inspector="k", address="x")
    with pytest.raises(DecisionError):
        decisions.validate(records, "no-such-id", validator="v", makers=set(), address="x")
    assert states.state_of(records, ["urn:d"]) == {"urn:d": "received"}  # refused proposals change nothing
