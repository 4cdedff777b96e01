"""Station fixtures: a project-owned SANE config with the real `test` backend, a store, a journal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from station.capture.journal import Journal
from station.capture.saneenv import prepare_sane_config
from station.store import Store


@pytest.fixture(scope="session")
def sane_test_device(tmp_path_factory: pytest.TempPathFactory) -> str:
    """'test:0' of the SANE test backend, configured (A4-capable) before anything calls sane.init()."""
    prepare_sane_config(tmp_path_factory.mktemp("sane"), backends=("test",))
    # The SANE worker's watchdog: the test backend answers within milliseconds, so a hang shows in 20 s
    # rather than the 86 s a real A4 scanner gets (children, e.g. the CLI in the crash test, inherit it).
    os.environ.setdefault("SOHOA_SANE_WATCHDOG_S", "20")
    from station.capture.sane_source import discover as list_devices

    devices = [d["id"] for d in list_devices(timeout=10)]
    assert "test:0" in devices, f"SANE test backend not found (got {devices}): install sane-backends/libsane"
    return "test:0"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def station_store(data_dir: Path) -> Store:
    return Store(data_dir / "station.db")


@pytest.fixture
def journal(station_store: Store, data_dir: Path) -> Journal:
    return Journal(station_store, data_dir)


@pytest.fixture
def batch_id(station_store: Store) -> int:
    batch = station_store.create_batch(file_code="H26.61.8.01.2026.01", record={"title": "Hồ sơ thử"},
                                       expected_sheets=None, work_order_id=None, operator="tester")
    return int(batch["id"])
