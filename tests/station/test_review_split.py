"""The saved split into documents follows the pages (issue #18): a restored, moved, deleted or rescanned
page lands in the document it now sits in; picked pages become a document; one flag kind accepted at once."""

from __future__ import annotations

from station import review as rv
from station.processing.pipeline import flag
from tests.station.test_review import _pages


def _docs(store, batch_id: int) -> list[list[int]]:
    return [d["record"]["page_ids"] for d in store.documents(batch_id)]


def _split(store, batch_id: int, groups: list[list[int]]) -> None:
    store.set_documents(batch_id, [{"ordinal": i, "record": {"ordinal": i, "subject": f"Tài liệu {i}", "page_ids": g}}
                                   for i, g in enumerate(groups, 1)], actor="op1")


def test_restore_delete_move_keep_the_split_true(station_store, batch_id):
    a, b, c, d, e = _pages(station_store, batch_id, 5)
    _split(station_store, batch_id, [[a, b], [c, d, e]])
    rv.set_deleted(station_store, b, True, actor="op1")
    assert _docs(station_store, batch_id) == [[a], [c, d, e]]
    rv.set_deleted(station_store, b, False, actor="op1")  # the stale split of the issue: b was left out
    assert _docs(station_store, batch_id) == [[a, b], [c, d, e]]
    rv.set_deleted(station_store, c, True, actor="op1")  # the second document's first page: d starts it now
    assert _docs(station_store, batch_id) == [[a, b], [d, e]]
    rv.set_deleted(station_store, c, False, actor="op1")  # restored, c starts its document again
    assert _docs(station_store, batch_id) == [[a, b], [c, d, e]]
    rv.set_deleted(station_store, c, True, actor="op1")
    rv.set_deleted(station_store, c, False, actor="op1")
    assert _docs(station_store, batch_id) == [[a, b], [c, d, e]]
    rv.set_deleted(station_store, c, True, actor="op1")
    rv.move(station_store, batch_id, [e], after=a, actor="op1")
    assert _docs(station_store, batch_id) == [[a, e, b], [d]]
    assert [d["record"]["subject"] for d in station_store.documents(batch_id)] == ["Tài liệu 1", "Tài liệu 2"]
    rv.set_deleted(station_store, d, True, actor="op1")  # all its pages gone: kept, empty, for the checklist
    assert _docs(station_store, batch_id) == [[a, e, b], []]


def test_a_rescanned_first_page_hands_over_to_its_replacement(station_store, batch_id):
    a, b, c = _pages(station_store, batch_id, 3)
    _split(station_store, batch_id, [[a], [b, c]])
    (new,) = _pages_extra(station_store, batch_id)
    rv.replace(station_store, batch_id, [b], [new], actor="op1")
    assert _docs(station_store, batch_id) == [[a], [new, c]]


def _pages_extra(store, batch_id: int) -> list[int]:
    pid = store.add_page({"batch_id": batch_id, "seq": 99, "sheet": 99, "side": "single", "source": "adf",
                          "device": "test:0", "settings": {}, "path": "pages/x/99.png", "sha256": "AB" * 32,
                          "width": 10, "height": 10, "dpi": 300.0, "captured_at": "2026-01-01T00:00:00+07:00"},
                         actor="op1")
    store.set_processing(pid, result={"qr": [], "angle": 0.0, "rotation": 0}, derivative_path="",
                         derivative_sha256="", blank=False, flags=[])
    return [pid]


def test_picked_pages_start_a_document(station_store, batch_id):
    a, b, c, d, e = _pages(station_store, batch_id, 5)
    assert rv.start_document(station_store, batch_id, [b, d], actor="op1") == [[a], [b, d], [c, e]]
    _split(station_store, batch_id, [[a, b, c, d, e]])
    assert rv.start_document(station_store, batch_id, [c, d], actor="op1") == [[a, b], [d, c], [e]]  # order a b d c e
    assert station_store.documents(batch_id)[0]["record"]["subject"] == "Tài liệu 1"  # kept


def test_accept_one_kind_everywhere(station_store, batch_id):
    a, b, c = _pages(station_store, batch_id, 3)
    for pid, codes in ((a, ["blurry", "edge_content"]), (b, ["blurry"]), (c, ["edge_content"])):
        station_store.set_processing(pid, result={}, derivative_path="", derivative_sha256="", blank=False,
                                     flags=[flag(k, k) for k in codes])
    assert rv.accept_kind(station_store, batch_id, "blurry", actor="op1") == [a, b]
    left = {(u["page_id"], f["code"]) for u in rv.unresolved(station_store, batch_id) for f in u["flags"]}
    assert left == {(a, "edge_content"), (c, "edge_content")}
