"""Disk-space guard on a real small filesystem (a 32 MB tmpfs): refuse to start, stop cleanly mid-run,
never corrupt the batch, and go on in the same batch once space is freed."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from protocol.hashing import sha256_file
from station.capture.journal import Journal, encode_original
from station.capture.sane_source import SaneSource
from station.capture.service import CaptureService, CaptureState
from station.capture.source import CaptureRefused, ScanRequest
from station.store import Store

MB = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"this test mounts a 32 MB tmpfs and needs root: {done.stderr.strip()}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def new_batch(store: Store) -> int:
    return int(store.create_batch(file_code="H26.61.8.01.2026.09", record={}, expected_sheets=None,
                                  work_order_id=None, operator="tester")["id"])


def test_low_space_refuses_to_start(sane_test_device: str, data_dir: Path, station_store: Store) -> None:
    free_mb = Journal(station_store, data_dir).free_bytes() / MB
    journal = Journal(station_store, data_dir, min_free_mb=free_mb + 1024)  # threshold injected
    batch = new_batch(station_store)
    service = CaptureService(station_store, journal)
    with pytest.raises(CaptureRefused) as caught:
        service.start(batch, SaneSource(sane_test_device), ScanRequest(source="adf"), actor="tester")
    assert caught.value.code == "disk_full"
    assert "Ổ đĩa của trạm sắp đầy" in caught.value.text("vi") and "Quét tiếp" in caught.value.text("vi")
    assert station_store.pages(batch) == [] and service.state == CaptureState.IDLE
    service.close()


def test_disk_filling_up_stops_cleanly_and_the_batch_goes_on(sane_test_device: str,
                                                              small_disk: Path) -> None:
    store = Store(small_disk / "station.db")
    batch = new_batch(store)
    filler = small_disk / "filler.bin"  # other data on the disk, freed later by the operator
    filler.write_bytes(b"\0" * 10 * MB)
    journal = Journal(store, small_disk, min_free_mb=18, floor_mb=2)
    assert journal.free_bytes() > 18 * MB, "the test disk is too full to start"
    service = CaptureService(store, journal)
    faults: list = []
    service.add_listener(on_fault=faults.append)
    service.start(batch, SaneSource(sane_test_device), ScanRequest(source="adf"), actor="tester")
    outcome = service.wait(sane_test_device, timeout=120)
    assert outcome is not None and outcome.ended == "fault"
    assert [f.code for f in faults] == ["disk_full"] and service.state == CaptureState.FAULT
    rows = store.pages(batch)
    assert 1 <= len(rows) < 10 and outcome.pages == len(rows)
    assert [r["sheet"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(sha256_file(small_disk / r["path"]) == r["sha256"] for r in rows)
    assert journal.reconcile().clean
    assert not list(small_disk.rglob("*.part")), "a half-written page was left behind"

    with pytest.raises(CaptureRefused, match="not enough free space"):  # still full: refused at start
        service.start(batch, SaneSource(sane_test_device), ScanRequest(source="adf"), actor="tester")

    filler.unlink()  # the operator frees space; the same batch goes on with the next sheet
    service.clear_fault(sane_test_device)
    service.start(batch, SaneSource(sane_test_device), ScanRequest(source="flatbed"), actor="tester")
    assert service.wait(sane_test_device, timeout=60).pages == 1
    assert [r["sheet"] for r in store.pages(batch)] == list(range(1, len(rows) + 2))
    service.close()


@pytest.mark.parametrize(("fmt", "suffix"), [("png", ".png"), ("tiff", ".tif")])
def test_originals_are_lossless_and_carry_their_resolution(tmp_path: Path, fmt: str, suffix: str) -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (301, 207, 3), dtype=np.uint8)  # noise: any lossy step would show
    path = tmp_path / f"page{suffix}"
    path.write_bytes(encode_original(image, 300.0, fmt))
    with Image.open(path) as decoded:
        assert decoded.mode == "RGB"
        assert np.array_equal(np.asarray(decoded), image)
        assert round(decoded.info["dpi"][0]) == 300


def test_tiff_journal_writes_tif_originals(sane_test_device: str, station_store: Store, data_dir: Path) -> None:
    journal = Journal(station_store, data_dir, image_format="tiff")
    batch = new_batch(station_store)
    got: list = []
    SaneSource(sane_test_device).scan(ScanRequest(source="flatbed"), on_page=got.append, stop=threading.Event())
    row = journal.record(batch, got[0], actor="tester")
    assert row["path"].endswith("-single.tif")
    path = data_dir / row["path"]
    assert sha256_file(path) == row["sha256"]
    with Image.open(path) as decoded:
        assert np.array_equal(np.asarray(decoded), got[0].image)
