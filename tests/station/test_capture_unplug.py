"""A scanner unplugged mid-batch, as close to the real thing as the SANE test backend allows: the backend
fails the read with an I/O error while the device also vanishes from SANE (its dll.conf entry removed, so a
fresh sane_init no longer finds it). Then it is "plugged back" and the same batch goes on."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from protocol.hashing import sha256_file
from station.capture.journal import Journal
from station.capture.sane_source import SaneSource
from station.capture.sane_source import discover as list_devices
from station.capture.service import CaptureService, CaptureState
from station.capture.source import CapturedImage, ScanRequest
from station.store import Store


def test_unplugged_mid_batch_keeps_pages_and_the_batch_goes_on(sane_test_device: str, journal: Journal,
                                                                station_store: Store, batch_id: int) -> None:
    dll_conf = Path(os.environ["SANE_CONFIG_DIR"]) / "dll.conf"
    plugged = dll_conf.read_text()
    source = SaneSource(sane_test_device)
    kept: list[dict] = []

    def on_page(captured: CapturedImage) -> None:
        kept.append(journal.record(batch_id, captured, actor="tester"))
        if len(kept) == 3:  # the cable comes out while the 4th sheet is being read
            dll_conf.write_text("")
            source.set_option("read-return-value", "SANE_STATUS_IO_ERROR")

    try:
        outcome = source.scan(ScanRequest(source="adf"), on_page=on_page, stop=threading.Event())
    finally:
        dll_conf.write_text(plugged)  # plugged back in
    assert outcome.ended == "fault" and outcome.pages == 3
    assert outcome.fault is not None and outcome.fault.code == "unplugged", outcome.fault
    assert "Cắm lại cáp" in outcome.fault.text("vi") and "vẫn được giữ" in outcome.fault.text("vi")
    assert "Error during device I/O" in outcome.fault.message  # the backend's own status, in the log text
    rows = station_store.pages(batch_id)
    assert [r["sheet"] for r in rows] == [1, 2, 3]
    assert all(sha256_file(journal.data_dir / r["path"]) == r["sha256"] for r in rows)

    # Plugged back: found again, and "scan more" continues the same batch with sheet 4.
    assert sane_test_device in [d["id"] for d in list_devices(timeout=10)]
    service = CaptureService(station_store, journal)
    service.start(batch_id, SaneSource(sane_test_device), ScanRequest(source="adf"), actor="tester")
    again = service.wait(sane_test_device, timeout=120)
    assert again is not None and (again.pages, again.ended) == (10, "empty")
    assert service.state == CaptureState.IDLE
    rows = station_store.pages(batch_id)
    assert [r["sheet"] for r in rows] == list(range(1, 14))
    assert [r["seq"] for r in rows] == list(range(1, 14))
    service.close()


def test_io_error_with_the_device_still_there_is_not_unplugged(sane_test_device: str) -> None:
    source = SaneSource(sane_test_device)
    seen: list[int] = []

    def on_page(captured: CapturedImage) -> None:
        seen.append(captured.sheet)
        source.set_option("read-return-value", "SANE_STATUS_IO_ERROR")

    outcome = source.scan(ScanRequest(source="adf"), on_page=on_page, stop=threading.Event())
    assert (outcome.pages, outcome.fault.code) == (1, "io_error")
    assert "Kiểm tra cáp" in outcome.fault.text("vi")
