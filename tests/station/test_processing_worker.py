"""ProcessingPool with a real Store: background processing, results persisted, interrupted pages redone."""

from __future__ import annotations

import threading

import cv2
from test_processing_pagegen import render_page, save_png

from protocol.clock import iso_vn
from protocol.hashing import sha256_file
from station import review
from station.processing.config import ProcessingConfig
from station.processing.worker import ProcessingPool
from station.store import Store

DPI = 150


def _capture(store: Store, data_dir, batch: dict, seq: int, img) -> int:
    rel = f"pages/{batch['uid']}/{seq:05d}.png"
    path = data_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(img, bytes):
        path.write_bytes(img)
    else:
        save_png(img, path, dpi=DPI)
    return store.add_page({
        "batch_id": batch["id"], "seq": seq, "sheet": (seq + 1) // 2, "side": "front" if seq % 2 else "back",
        "source": "import", "device": "test", "settings": {"dpi": DPI}, "path": rel,
        "sha256": sha256_file(path), "width": 1, "height": 1, "dpi": DPI, "captured_at": iso_vn(),
    }, actor="test")


def test_pool_processes_resubmits_interrupted_and_records_failures(tmp_path):
    store = Store(tmp_path / "station.db")
    batch = store.create_batch(file_code="H01.12.03/2024-0001", record={}, expected_sheets=2,
                               work_order_id=None, operator="tester")
    text, _ = render_page(seed=81, dpi=DPI, lines=12, rotate=180)
    blank, _ = render_page(seed=82, dpi=DPI, blank=True, yellow=True, bleed=True)
    # page 1 was captured before a crash and never processed: start() must pick it up
    interrupted = _capture(store, tmp_path, batch, 1, text)
    config = ProcessingConfig(min_dpi=100)
    pool = ProcessingPool(store, tmp_path, workers=2, config=config)
    seen: dict[int, dict] = {}
    done = threading.Event()

    def listener(page_id: int, result: dict) -> None:
        seen[page_id] = result
        if len(seen) == 3:
            done.set()

    pool.add_listener(listener)
    pool.add_listener(lambda page_id, result: 1 / 0)  # a broken listener must not stop the others
    pool.start()
    try:
        back = _capture(store, tmp_path, batch, 2, blank)
        pool.submit(back)
        broken = _capture(store, tmp_path, batch, 3, b"\x89PNG truncated")
        pool.submit(broken)
        pool.submit(broken)  # twice: processed once
        assert pool.drain(timeout=120), "pool did not finish"
    finally:
        pool.stop()
    assert done.is_set() and set(seen) == {interrupted, back, broken}
    assert store.unprocessed_pages() == []

    row = store.page(interrupted)
    assert row["derivative_path"] == f"derived/{batch['uid']}/00001.jpg"
    assert sha256_file(tmp_path / row["derivative_path"]) == row["derivative_sha256"]
    assert row["processing"]["rotation"] == 180 and row["blank"] == 0
    assert row["sha256"] == sha256_file(tmp_path / row["path"]), "original unchanged"

    row = store.page(back)
    assert row["blank"] == 1 and row["flags"][0]["code"] == "blank"
    assert (tmp_path / row["derivative_path"]).exists(), "a blank page is kept"

    row = store.page(broken)
    assert row["flags"][0]["code"] == "processing_failed" and row["flags"][0]["message_vi"]
    assert row["derivative_path"] == row["path"], "a failed page goes on as its original, flagged"


def test_restart_reprocesses_pages_left_unfinished(tmp_path):
    store = Store(tmp_path / "station.db")
    batch = store.create_batch(file_code="H01.12.03/2024-0002", record={}, expected_sheets=1,
                               work_order_id=None, operator="tester")
    img, _ = render_page(seed=83, dpi=DPI, lines=5)
    page_id = _capture(store, tmp_path, batch, 1, img)
    config = ProcessingConfig(detect_orientation=False, min_dpi=100)
    first = ProcessingPool(store, tmp_path, workers=1, config=config)
    first.submit(page_id)  # queued, but the station stops before the pool ever runs
    first.stop()
    assert store.page(page_id)["processed_at"] is None
    second = ProcessingPool(store, tmp_path, workers=1, config=config)
    second.start()
    try:
        assert second.drain(timeout=120)
        row = store.page(page_id)
        assert row["processed_at"] is not None and row["derivative_sha256"]
        # the operator turns the page in review: reprocessing puts the turn into a new derivative
        review.rotate(store, page_id, by=90, actor="tester")
        second.submit(page_id)
        assert second.drain(timeout=120)
    finally:
        second.stop()
    turned = store.page(page_id)
    assert turned["derivative_path"] == f"derived/{batch['uid']}/00001-r90.jpg"
    assert turned["processing"]["manual_rotation"] == 90
    old = cv2.imread(str(tmp_path / row["derivative_path"]))
    new = cv2.imread(str(tmp_path / turned["derivative_path"]))
    assert old.shape[0] > old.shape[1] and new.shape[:2] == old.shape[1::-1]
