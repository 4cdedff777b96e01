"""Review actions on the real station store: each one a transaction with its audit row."""

from __future__ import annotations

import json

import pytest

from protocol.errors import Forbidden
from station import review as rv
from station.processing.pipeline import flag
from station.store import BatchState, StateError


def _pages(store, batch_id: int, n: int, *, qr: dict[int, str] | None = None) -> list[int]:
    ids = []
    for seq in range(1, n + 1):
        pid = store.add_page({"batch_id": batch_id, "seq": seq, "sheet": seq, "side": "single", "source": "adf",
                              "device": "test:0", "settings": {}, "path": f"pages/x/{seq}.png", "sha256": "AB" * 32,
                              "width": 10, "height": 10, "dpi": 300.0, "captured_at": "2026-01-01T00:00:00+07:00"},
                             actor="op1")
        result = {"qr": [qr[seq]] if qr and seq in qr else [], "angle": 0.0, "rotation": 0}
        store.set_processing(pid, result=result, derivative_path="", derivative_sha256="", blank=False, flags=[])
        ids.append(pid)
    return ids


def _order(store, batch_id: int) -> list[int]:
    return [p["id"] for p in store.pages(batch_id)]


def _actions(store, batch_id: int) -> list[str]:
    return [r["action"] for r in store.query("SELECT action FROM audit WHERE batch_id = ? ORDER BY id", (batch_id,))]


def test_rotate_delete_restore_are_audited(station_store, batch_id):
    a, b, c = _pages(station_store, batch_id, 3)
    assert rv.rotate(station_store, b, by=90, actor="op1") == 90
    assert rv.rotate(station_store, b, by=270, actor="op1") == 0
    assert rv.rotate(station_store, b, by=-90, actor="op1") == 270
    with pytest.raises(ValueError):
        rv.rotate(station_store, b, by=45, actor="op1")
    rv.set_deleted(station_store, a, True, actor="op1")
    assert _order(station_store, batch_id) == [b, c]
    rv.set_deleted(station_store, a, False, actor="op2")
    assert _order(station_store, batch_id) == [a, b, c]
    rows = station_store.query("SELECT actor, action, detail FROM audit WHERE batch_id = ? AND action LIKE 'page.%'"
                               " AND action != 'page.captured' ORDER BY id", (batch_id,))
    assert [r["action"] for r in rows] == ["page.rotate"] * 3 + ["page.delete", "page.restore"]
    assert rows[-1]["actor"] == "op2" and json.loads(rows[0]["detail"]) == {"page": b, "rotation": 90}


def test_move_reorder_replace(station_store, batch_id):
    a, b, c, d = _pages(station_store, batch_id, 4)
    assert rv.move(station_store, batch_id, [d], after=a, actor="op1") == [a, d, b, c]
    assert rv.move(station_store, batch_id, [c, a], after=None, actor="op1") == [c, a, d, b]
    assert _order(station_store, batch_id) == [c, a, d, b]
    assert rv.reorder(station_store, batch_id, [b, a], actor="op1")[:2] == [b, a]
    with pytest.raises(ValueError):
        rv.move(station_store, batch_id, [a], after=a, actor="op1")
    # a rescan of page a: two new pages take its place, a is deleted but kept
    e, f = _pages_more(station_store, batch_id, 2)
    new = rv.replace(station_store, batch_id, [a], [e, f], actor="op1")
    assert new.index(f) == new.index(e) + 1 and new.index(a) > new.index(f)
    assert _order(station_store, batch_id)[:3] == [b, e, f]
    assert station_store.page(a)["deleted"] == 1
    assert "pages.replace" in _actions(station_store, batch_id)


def _pages_more(store, batch_id: int, n: int) -> list[int]:
    start = store.next_seq(batch_id)
    ids = []
    for seq in range(start, start + n):
        ids.append(store.add_page({"batch_id": batch_id, "seq": seq, "sheet": seq, "side": "single",
                                   "source": "flatbed", "device": "test:0", "settings": {}, "path": f"p/{seq}.png",
                                   "sha256": "CD" * 32, "width": 10, "height": 10, "dpi": 300.0,
                                   "captured_at": "2026-01-01T00:00:00+07:00"}, actor="op1"))
    return ids


def test_flags_block_finish_until_accepted_or_overridden(station_store, batch_id):
    a, b = _pages(station_store, batch_id, 2)
    blurry = flag("blurry", "blurred")
    station_store.set_processing(a, result={}, derivative_path="", derivative_sha256="", blank=False, flags=[blurry])
    station_store.set_processing(b, result={}, derivative_path="", derivative_sha256="", blank=True,
                                 flags=[flag("blank", "")])
    assert [u["page_id"] for u in rv.unresolved(station_store, batch_id)] == [a]  # blank pages are set apart
    assert not rv.can_finish(station_store, batch_id)
    with pytest.raises(Forbidden):
        rv.override(station_store, batch_id, reason="ok", actor="op1", role="operator")
    with pytest.raises(ValueError):
        rv.override(station_store, batch_id, reason=" ", actor="sup1", role="supervisor")
    rv.override(station_store, batch_id, reason="bản gốc mờ sẵn", actor="sup1", role="supervisor")
    assert rv.can_finish(station_store, batch_id)
    _pages_more(station_store, batch_id, 1)  # a page captured after the override: it no longer holds
    assert not rv.overridden(station_store, batch_id)
    flags = rv.accept_flags(station_store, a, actor="op1")
    assert flags[0]["accepted_by"] == "op1"
    assert rv.unresolved(station_store, batch_id) == [] and rv.can_finish(station_store, batch_id)
    rv.set_blank(station_store, b, False, actor="op1")  # restored blank page: its flags now count
    assert [u["page_id"] for u in rv.unresolved(station_store, batch_id)] == [b]


def test_split_by_separator_and_by_taps(station_store, batch_id):
    ids = _pages(station_store, batch_id, 6, qr={1: "SOHOA-SEP", 4: "SOHOA-SEP:2", 5: "https://example.vn"})
    groups = rv.split_by_separators(station_store, batch_id, actor="op1")
    assert groups == [[ids[1], ids[2]], [ids[4], ids[5]]]
    assert station_store.page(ids[0])["deleted"] == 1 and station_store.page(ids[3])["deleted"] == 1
    assert rv.split_at(station_store, batch_id, [ids[2]]) == [[ids[1]], [ids[2], ids[4], ids[5]]]


def test_no_changes_once_finishing(station_store, batch_id):
    (a,) = _pages(station_store, batch_id, 1)
    station_store.transition(batch_id, BatchState.REVIEW, actor="op1")
    station_store.transition(batch_id, BatchState.FINISHING, actor="op1")
    with pytest.raises(StateError):
        rv.rotate(station_store, a, by=90, actor="op1")
    with pytest.raises(StateError):
        rv.set_deleted(station_store, a, True, actor="op1")
    assert station_store.page(a)["rotation"] == 0
