"""libsane in a child process per scanner: a hung child is killed by the watchdog, a dead child is a fault,
both keep the batch's pages and the batch goes on; two scanners scan at the same time."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from protocol.hashing import sha256_file
from station.capture.journal import Journal
from station.capture.sane_source import SaneSource, watchdog_seconds
from station.capture.service import CaptureService, CaptureState
from station.capture.source import CapturedImage, ScanRequest
from station.store import Store

#: About 0.4 s per A4 page on the test backend: long enough to see two scanners overlap.
SLOW = {"read_limit": True, "read_limit_size": 32768, "read_delay": True, "read_delay_duration": 2000}


def _gone(pid: int) -> bool:
    """The process no longer exists (not even as a zombie)."""
    return not Path(f"/proc/{pid}").exists()


def _continue_batch(station_store: Store, journal: Journal, batch_id: int, device: str) -> None:
    """The operator presses 'scan more': a fresh child, 10 more sheets, numbering goes on."""
    before = len(station_store.pages(batch_id))
    service = CaptureService(station_store, journal)
    service.start(batch_id, SaneSource(device), ScanRequest(source="adf"), actor="tester")
    outcome = service.wait(device, timeout=120)
    assert outcome is not None and (outcome.pages, outcome.ended) == (10, "empty")
    assert service.state == CaptureState.IDLE
    service.close()
    rows = station_store.pages(batch_id)
    assert [r["seq"] for r in rows] == list(range(1, before + 11))
    assert all(sha256_file(journal.data_dir / r["path"]) == r["sha256"] for r in rows)


@pytest.mark.parametrize("how", ["sigstop", "sigkill"])
def test_hung_or_dead_child_is_a_fault_and_the_batch_goes_on(
    sane_test_device: str, journal: Journal, station_store: Store, batch_id: int, how: str
) -> None:
    source = SaneSource(sane_test_device, watchdog_s=2.0)
    kept: list[dict] = []
    child: list[int] = []
    stopped_at: list[float] = []

    def on_page(captured: CapturedImage) -> None:
        kept.append(journal.record(batch_id, captured, actor="tester"))
        if len(kept) == 3:  # the backend hangs (or crashes) while the 4th sheet is read
            child.append(source.worker_pid)
            os.kill(child[0], signal.SIGSTOP if how == "sigstop" else signal.SIGKILL)
            stopped_at.append(time.monotonic())

    outcome = source.scan(ScanRequest(source="adf"), on_page=on_page, stop=threading.Event())
    waited = time.monotonic() - stopped_at[0]
    code = "hung" if how == "sigstop" else "crashed"
    assert outcome.ended == "fault" and outcome.pages == 3
    assert outcome.fault is not None and outcome.fault.code == code, outcome.fault
    assert outcome.fault.text("vi") != outcome.fault.message and "vẫn được giữ" in outcome.fault.text("vi")
    if how == "sigstop":
        assert "không phản hồi" in outcome.fault.text("vi") and "2.0 s" in outcome.fault.message
        assert 1.9 <= waited < 8, f"the watchdog took {waited:.1f} s for a 2 s limit"
    else:
        assert "dừng đột ngột" in outcome.fault.text("vi")
        assert waited < 5, f"a dead child took {waited:.1f} s to notice"
    assert _gone(child[0]), "the killed child is still there (or an unreaped zombie)"
    assert source.worker_pid is None
    rows = station_store.pages(batch_id)
    assert [r["sheet"] for r in rows] == [1, 2, 3]
    assert all(sha256_file(journal.data_dir / r["path"]) == r["sha256"] for r in rows)
    _continue_batch(station_store, journal, batch_id, sane_test_device)


def test_hung_child_through_the_service_reports_the_fault(
    sane_test_device: str, journal: Journal, station_store: Store, batch_id: int
) -> None:
    service = CaptureService(station_store, journal)
    faults: list = []
    first = threading.Event()
    service.add_listener(on_fault=faults.append, on_page=lambda row: first.set())
    source = SaneSource(sane_test_device, options=SLOW, watchdog_s=2.0)
    service.start(batch_id, source, ScanRequest(source="adf"), actor="tester")
    assert first.wait(60), "no page within a minute"
    pid = source.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    outcome = service.wait(sane_test_device, timeout=60)
    assert outcome is not None and outcome.ended == "fault" and outcome.fault.code == "hung"
    assert service.state == CaptureState.FAULT and [f.code for f in faults] == ["hung"]
    rows = station_store.pages(batch_id)
    assert 1 <= len(rows) < 10 and outcome.pages == len(rows)
    assert all(sha256_file(journal.data_dir / r["path"]) == r["sha256"] for r in rows)
    assert _gone(pid)
    actions = [a["action"] for a in station_store.query("SELECT action FROM audit ORDER BY id")]
    assert "capture.fault" in actions
    service.clear_fault(sane_test_device)
    service.close()
    _continue_batch(station_store, journal, batch_id, sane_test_device)


def test_stop_closes_the_device_and_the_child_exits(sane_test_device: str, journal: Journal, batch_id: int) -> None:
    source = SaneSource(sane_test_device)
    stop = threading.Event()
    child: list[int] = []

    def on_page(captured: CapturedImage) -> None:
        child.append(source.worker_pid)
        stop.set()

    outcome = source.scan(ScanRequest(source="adf"), on_page=on_page, stop=stop)
    assert (outcome.pages, outcome.ended) == (1, "stopped")
    assert _gone(child[0])
    # the device was released: a new run opens it again and gets the feeder's next sheets
    again = source.scan(ScanRequest(source="adf"), on_page=lambda c: None, stop=threading.Event())
    assert again.ended == "empty" and again.pages >= 1


def test_two_scanners_scan_at_the_same_time(
    sane_test_device: str, station_store: Store, journal: Journal, batch_id: int, data_dir: Path
) -> None:
    def new_batch(code: str) -> int:
        return int(
            station_store.create_batch(
                file_code=code, record={}, expected_sheets=None, work_order_id=None, operator="tester"
            )["id"]
        )

    service = CaptureService(station_store, journal)
    alone = new_batch("H26.61.8.01.2026.03")
    started = time.monotonic()
    service.start(alone, SaneSource("test:0", options=SLOW), ScanRequest(source="adf"), actor="a")
    assert service.wait("test:0", timeout=120).pages == 10
    one = time.monotonic() - started

    other = new_batch("H26.61.8.01.2026.02")
    started = time.monotonic()
    service.start(batch_id, SaneSource("test:0", options=SLOW), ScanRequest(source="adf"), actor="a")
    service.start(other, SaneSource("test:1", options=SLOW), ScanRequest(source="adf"), actor="b")
    assert service.state == CaptureState.SCANNING
    service.wait(timeout=120)
    both = time.monotonic() - started
    assert service.outcome("test:0").pages == 10 and service.outcome("test:1").pages == 10
    # Taking turns frame by frame would need about twice one scanner's time.
    assert both < 1.5 * one, f"two scanners took {both:.1f} s, one alone {one:.1f} s: not in parallel"
    for batch, device in ((batch_id, "test:0"), (other, "test:1")):
        rows = station_store.pages(batch)
        assert [r["seq"] for r in rows] == list(range(1, 11)) and {r["device"] for r in rows} == {device}
        assert all(sha256_file(data_dir / r["path"]) == r["sha256"] for r in rows)
    assert service.states == {"test:0": CaptureState.IDLE, "test:1": CaptureState.IDLE}
    service.close()


def test_set_option_only_from_the_scan_thread(sane_test_device: str) -> None:
    source = SaneSource(sane_test_device)
    errors: list[BaseException] = []

    def on_page(captured: CapturedImage) -> None:
        def other() -> None:
            try:
                source.set_option("read_return_value", "SANE_STATUS_JAMMED")
            except RuntimeError as exc:
                errors.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()

    outcome = source.scan(ScanRequest(source="flatbed"), on_page=on_page, stop=threading.Event())
    assert (outcome.pages, outcome.ended) == (1, "done")
    assert len(errors) == 1 and "between frames" in str(errors[0])
    with pytest.raises(RuntimeError, match="no run in progress"):
        source.set_option("resolution", 300)


def test_watchdog_follows_the_page_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOHOA_SANE_WATCHDOG_S", raising=False)
    a4 = watchdog_seconds(ScanRequest(dpi=300, page_size="A4"))
    assert 80 < a4 < 95  # 60 s margin + 3 s per megapixel, 8.7 MP
    assert watchdog_seconds(ScanRequest(dpi=600, page_size="A3")) > 4 * (a4 - 60) + 60
    monkeypatch.setenv("SOHOA_SANE_WATCHDOG_S", "7.5")
    assert watchdog_seconds(ScanRequest()) == 7.5


def test_child_stuck_while_closing_is_killed_after_the_grace(sane_test_device: str) -> None:
    # As when a backend deadlocks in sane_cancel after reporting a fault: the fault is already known, the
    # close must not hang the station.
    from station.capture.profiles import profile_for
    from station.capture.sane_link import Link

    link = Link(sane_test_device)
    ready = link.call(
        {
            "op": "open",
            "device": sane_test_device,
            "profile": profile_for(sane_test_device),
            "extra": {},
            "request": ScanRequest(source="adf"),
        },
        20,
    )
    assert ready["kind"] == "ready"
    os.kill(link.pid, signal.SIGSTOP)
    started = time.monotonic()
    link.close(1.0)
    assert time.monotonic() - started < 5
    assert _gone(link.pid)


def test_frames_read_by_the_worker_equal_python_sane_snap(sane_test_device: str) -> None:
    # The worker reads frames with sane_read through ctypes on python-sane's handle; the pixels must be
    # exactly what python-sane's own snap gives for the same settings.
    import hashlib
    import subprocess
    import sys

    snap = (
        "import hashlib, sane; sane.init(); d = sane.open('test:0'); d.source = 'Flatbed'; d.mode = 'Color';"
        " d.depth = 8; d.resolution = 250; d.br_x = 148.0; d.br_y = 210.0; d.test_picture = 'Color pattern';"
        " d.start(); r = d.dev.snap(False, True, None); print(r[1], r[2], hashlib.sha256(r[0]).hexdigest())"
    )
    done = subprocess.run([sys.executable, "-c", snap], capture_output=True, text=True, timeout=60, check=True)
    width, height, digest = done.stdout.split()
    got: list[CapturedImage] = []
    source = SaneSource(sane_test_device, options={"test_picture": "Color pattern"})
    source.scan(ScanRequest(source="flatbed", dpi=250, page_size="A5"), on_page=got.append, stop=threading.Event())
    assert got[0].image.shape == (int(height), int(width), 3)
    assert hashlib.sha256(got[0].image.tobytes()).hexdigest() == digest
