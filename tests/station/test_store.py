"""The station database: transitions, audit trail, the sync queue's verdicts."""

import pytest

from station.store import BatchState, StateError, Store


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "station.db")


def _batch(store):
    return store.create_batch(file_code="000.00.00.H47.2001.160.VP", record={"title": "t"}, expected_sheets=3,
                              work_order_id=None, operator="op1")


def test_wal_and_full_sync(store):
    assert store.one("PRAGMA journal_mode")["journal_mode"] == "wal"
    assert store.one("PRAGMA synchronous")["synchronous"] == 2  # FULL


def test_transition_rules_and_audit(store):
    batch = _batch(store)
    assert batch["state"] == BatchState.OPEN
    with pytest.raises(StateError):
        store.transition(batch["id"], BatchState.SYNCED, actor="op1")
    store.transition(batch["id"], BatchState.REVIEW, actor="op1")
    store.transition(batch["id"], BatchState.FINISHING, actor="op1")
    actions = [r["action"] for r in store.query("SELECT action FROM audit ORDER BY id")]
    assert actions == ["batch.open", "batch.review", "batch.finishing"]
    assert store.batch(batch["id"])["state"] == BatchState.FINISHING


def test_refused_transition_changes_nothing(store):
    batch = _batch(store)
    before = store.query("SELECT COUNT(*) AS n FROM audit")[0]["n"]
    with pytest.raises(StateError):
        store.transition(batch["id"], BatchState.SEALED, actor="op1")
    assert store.batch(batch["id"])["state"] == BatchState.OPEN
    assert store.query("SELECT COUNT(*) AS n FROM audit")[0]["n"] == before


def test_outbox_verdict_moves_batch(store):
    batch = _batch(store)
    store.transition(batch["id"], BatchState.REVIEW, actor="op1")
    store.transition(batch["id"], BatchState.FINISHING, actor="op1")
    item = store.enqueue_package(batch["id"], package_path="packages/x.zip", sha256="A" * 64, size=10, actor="op1")
    assert store.batch(batch["id"])["state"] == BatchState.SEALED
    assert [r["id"] for r in store.outbox()] == [item]
    store.transition(batch["id"], BatchState.SYNCING, actor="sync")
    store.outbox_done(item, accepted=False, receipt={"reasons": ["bad"]})
    assert store.batch(batch["id"])["state"] == BatchState.REJECTED
    assert store.outbox() == []
    assert store.outbox_item(item)["state"] == "rejected"


def test_page_rows_round_trip(store):
    batch = _batch(store)
    pid = store.add_page({"batch_id": batch["id"], "seq": 1, "sheet": 1, "side": "single", "source": "adf",
                          "device": "test:0", "settings": {"resolution": 300}, "path": "pages/x/00001.png",
                          "sha256": "B" * 64, "width": 10, "height": 10, "dpi": 300.0,
                          "captured_at": "2026-01-01T00:00:00.000+07:00"}, actor="op1")
    page = store.page(pid)
    assert page["settings"] == {"resolution": 300}
    assert [p["id"] for p in store.unprocessed_pages()] == [pid]
    store.set_processing(pid, result={"angle": 0.5}, derivative_path="derived/x.png", derivative_sha256="C" * 64,
                         blank=False, flags=[])
    assert store.unprocessed_pages() == []
    assert store.page(pid)["processing"] == {"angle": 0.5}
