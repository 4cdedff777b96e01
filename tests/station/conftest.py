"""Station fixtures: a store, a journal, a batch (the SANE test device and the `station` fixture: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.capture.journal import Journal
from station.output import tessworker
from station.store import Store


@pytest.fixture(scope="module", autouse=True)
def _loaded_tesseracts_stop_with_the_module():
    """OCR and OSD keep a Tesseract loaded in a child process (station.output.tessworker) until the process
    exits: a test module that used them stops them, so the next module starts with none (and their pipes
    are not counted as that module's open descriptors)."""
    yield
    tessworker.close_all()


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
