"""ProcessingPool with a real Store: background processing, results persisted, interrupted pages redone."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
from test_processing_pagegen import render_page, save_png

from protocol.clock import iso_vn
from protocol.errors import Message
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
    return store.add_page(
        {
            "batch_id": batch["id"],
            "seq": seq,
            "sheet": (seq + 1) // 2,
            "side": "front" if seq % 2 else "back",
            "source": "import",
            "device": "test",
            "settings": {"dpi": DPI},
            "path": rel,
            "sha256": sha256_file(path),
            "width": 1,
            "height": 1,
            "dpi": DPI,
            "captured_at": iso_vn(),
        },
        actor="test",
    )


def test_pool_processes_resubmits_interrupted_and_records_failures(tmp_path):
    store = Store(tmp_path / "station.db")
    batch = store.create_batch(
        file_code="H01.12.03/2024-0001", record={}, expected_sheets=2, work_order_id=None, operator="tester"
    )
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
    assert row["flags"][0]["code"] == "processing_failed" and Message.from_dict(
        row["flags"][0]).text("vi").startswith("Xử lý ảnh")
    assert row["derivative_path"] == row["path"], "a failed page goes on as its original, flagged"


def test_restart_reprocesses_pages_left_unfinished(tmp_path):
    store = Store(tmp_path / "station.db")
    batch = store.create_batch(
        file_code="H01.12.03/2024-0002", record={}, expected_sheets=1, work_order_id=None, operator="tester"
    )
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


def _shm_names() -> set[str]:
    return {p.name for p in Path("/dev/shm").iterdir() if p.name.startswith("psm_")}


def test_captured_frame_goes_through_shared_memory_and_is_freed(tmp_path):
    store = Store(tmp_path / "station.db")
    batch = store.create_batch(
        file_code="H01.12.03/2024-0003", record={}, expected_sheets=3, work_order_id=None, operator="tester"
    )
    img, _ = render_page(seed=85, dpi=DPI, lines=10, skew_deg=1.5, rotate=90, yellow=True)
    by_file = _capture(store, tmp_path, batch, 1, img)
    by_frame = _capture(store, tmp_path, batch, 2, img)
    over = _capture(store, tmp_path, batch, 3, img)
    before = _shm_names()
    pool = ProcessingPool(store, tmp_path, workers=1, config=ProcessingConfig(min_dpi=100))
    pool.max_frames = 1  # the second frame finds the shared memory budget spent: it goes by file
    pool.submit(by_file)
    pool.submit(by_frame, frame=img)  # RGB, as capture holds it
    pool.submit(over, frame=img)
    assert len(_shm_names() - before) == 1, "one frame held in shared memory"
    pool.start()
    try:
        assert pool.drain(timeout=120)
    finally:
        pool.stop()
    assert _shm_names() - before == set(), "every shared block is unlinked once its page is done"
    rows = {pid: store.page(pid) for pid in (by_file, by_frame, over)}
    assert rows[by_frame]["processing"]["input"] == "frame"
    assert rows[by_file]["processing"]["input"] == "file" and rows[over]["processing"]["input"] == "file"
    # the frame in memory is the PNG's pixels: the derivative is the same, byte for byte
    assert rows[by_frame]["derivative_sha256"] == rows[by_file]["derivative_sha256"]
    assert rows[by_frame]["processing"]["rotation"] == 270


def test_worker_reads_the_file_when_the_frame_is_gone(tmp_path):
    from station.processing.frames import SharedFrame
    from station.processing.worker import _work

    img, _ = render_page(seed=86, dpi=DPI, lines=6)
    src = save_png(img, tmp_path / "page.png", dpi=DPI)
    shared = SharedFrame(img)
    ref = shared.ref
    config = ProcessingConfig(min_dpi=100, detect_orientation=False)
    live = _work(str(src), DPI, str(tmp_path / "a.jpg"), config, 0, ref)
    shared.release()
    shared.release()  # twice is harmless
    late = _work(str(src), DPI, str(tmp_path / "b.jpg"), config, 0, ref)
    assert live["input"] == "frame" and late["input"] == "file"
    assert live["derivative_sha256"] == late["derivative_sha256"]


def test_frame_blocks_are_reused_and_unlinked_on_close():
    from station.processing.frames import FrameBlocks, SharedFrame, open_frame

    img, _ = render_page(seed=87, dpi=DPI, lines=4)
    blocks = FrameBlocks(keep=1)
    before = _shm_names()
    first = SharedFrame(img, blocks=blocks)
    name = first.ref.name
    first.release()
    second = SharedFrame(img[:, :, ::-1].copy(), blocks=blocks)  # another page of the same format
    assert second.ref.name == name, "a released block is taken again, not a fresh one"
    assert (open_frame(second.ref) == img).all(), "the new frame's pixels (BGR of the RGB given), not the old"
    third = SharedFrame(img, blocks=blocks)
    assert third.ref.name != name
    second.release()
    third.release()  # keep=1: this one is unlinked at once
    assert len(_shm_names() - before) == 1
    blocks.close()
    assert _shm_names() - before == set()


def test_a_frame_that_cannot_be_shared_leaves_the_page_to_its_file(tmp_path):
    store = Store(tmp_path / "station.db")
    batch = store.create_batch(
        file_code="H01.12.03/2024-0004", record={}, expected_sheets=1, work_order_id=None, operator="tester"
    )
    img, _ = render_page(seed=88, dpi=DPI, lines=6)
    page_id = _capture(store, tmp_path, batch, 1, img)
    pool = ProcessingPool(store, tmp_path, workers=1, config=ProcessingConfig(min_dpi=100))
    pool.start()
    try:
        pool.submit(page_id, frame=img.astype("float32"))  # not what capture hands over: refused, not fatal
        assert pool.drain(timeout=120)
    finally:
        pool.stop()
    row = store.page(page_id)
    assert row["processing"]["input"] == "file" and row["derivative_sha256"]


def _workers_tesseracts() -> dict[int, str]:
    """pid -> language of the loaded Tesseracts (station.output.tessworker) that this process's children (the
    pool's workers) started."""
    parent, argv = {}, {}
    for entry in Path("/proc").iterdir():
        try:
            parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
    workers = {pid for pid, ppid in parent.items() if ppid == os.getpid()}
    module = b"station.output.tessworker"
    return {pid: args[args.index(module) + 1].decode() for pid, args in argv.items()
            if parent.get(pid) in workers and module in args}


def test_a_worker_loads_osd_with_its_first_candidate_page_and_stops_it_when_it_stops(tmp_path):
    """OSD's Tesseract stays loaded in a child of each worker: started by the first page that asks OSD (not
    before), kept for the next, stopped and waited for when the pool stops."""
    store = Store(tmp_path / "station.db")
    batch = store.create_batch(
        file_code="H01.12.03/2024-0002", record={}, expected_sheets=3, work_order_id=None, operator="tester"
    )
    pool = ProcessingPool(store, tmp_path, workers=1, config=ProcessingConfig(min_dpi=100))
    pool.start()
    try:
        blank, _ = render_page(seed=82, dpi=DPI, blank=True)
        pool.submit(_capture(store, tmp_path, batch, 1, blank))
        assert pool.drain(timeout=120)
        assert _workers_tesseracts() == {}, "a blank page does not ask OSD"
        loaded = []
        for seq, seed in ((2, 81), (3, 83)):
            turned, _ = render_page(seed=seed, dpi=DPI, lines=12, rotate=180)
            page_id = _capture(store, tmp_path, batch, seq, turned)
            pool.submit(page_id)
            assert pool.drain(timeout=120)
            assert store.page(page_id)["processing"]["rotation"] == 180
            loaded.append(_workers_tesseracts())
        assert len(loaded[0]) == 1 and set(loaded[0].values()) == {"osd"} and loaded[1] == loaded[0], loaded
    finally:
        pool.stop()
    [osd] = loaded[0]
    assert not Path(f"/proc/{osd}").exists(), "stopped with its worker, and waited for"
