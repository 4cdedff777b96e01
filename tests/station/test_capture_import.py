"""Folder import: the same journal and the same archival rules as a scanner."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from protocol.hashing import sha256_file
from station.capture.journal import Journal
from station.capture.service import CaptureService
from station.capture.source import CaptureRefused, ScanRequest, open_source
from station.store import Store


def page(seed: int, size: tuple[int, int] = (620, 877)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def test_import_with_dpi_in_files(tmp_path: Path, station_store: Store, journal: Journal, batch_id: int) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    page(1).save(folder / "b.png", dpi=(300, 300))
    page(2).save(folder / "a.tif", dpi=(300, 300), compression="tiff_lzw")
    page(3).save(folder / "c.jpg", dpi=(250, 250), quality=95)
    (folder / "notes.txt").write_text("not an image")
    service = CaptureService(station_store, journal)
    service.start(batch_id, open_source("import", folder=folder), ScanRequest(), actor="tester")
    outcome = service.wait(timeout=60)
    assert (outcome.pages, outcome.ended) == (3, "done")
    rows = station_store.pages(batch_id)
    assert [r["settings"]["file"] for r in rows] == ["a.tif", "b.png", "c.jpg"]  # sorted by name
    assert [r["dpi"] for r in rows] == [300.0, 300.0, 250.0]
    assert {r["source"] for r in rows} == {"import"}
    assert rows[0]["settings"]["file_sha256"] == sha256_file(folder / "a.tif")
    for row in rows:
        assert sha256_file(journal.data_dir / row["path"]) == row["sha256"]
    with Image.open(journal.data_dir / rows[0]["path"]) as stored:  # lossless: same pixels as the TIFF
        assert np.array_equal(np.asarray(stored), np.asarray(page(2)))
    service.close()


def test_import_without_dpi_needs_the_option(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    page(1).save(folder / "p1.png")  # no pHYs chunk
    with pytest.raises(CaptureRefused) as caught:
        open_source("import", folder=folder).scan(ScanRequest(), on_page=lambda c: None, stop=threading.Event())
    assert "no resolution" in caught.value.message and "p1.png" in caught.value.text("vi")
    got = []
    outcome = open_source("import", folder=folder, dpi=300).scan(ScanRequest(), on_page=got.append,
                                                                stop=threading.Event())
    assert outcome.pages == 1 and got[0].dpi == 300.0 and got[0].settings["dpi_from"] == "option"


def test_import_refuses_low_dpi_and_greyscale_before_any_page(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    page(1).save(folder / "1.png", dpi=(300, 300))
    page(2).save(folder / "2.png", dpi=(150, 150))
    page(3).convert("L").save(folder / "3.png", dpi=(300, 300))
    got = []
    with pytest.raises(CaptureRefused) as caught:
        open_source("import", folder=folder).scan(ScanRequest(), on_page=got.append, stop=threading.Event())
    assert got == []  # nothing half imported
    assert "2.png: 150 dpi" in caught.value.message and "3.png: mode L is not colour" in caught.value.message
    assert "tối thiểu 200 dpi" in caught.value.text("vi")


def test_multipage_tiff_gives_one_page_per_frame(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    first, *rest = [page(i) for i in range(3)]
    first.save(folder / "all.tif", save_all=True, append_images=rest, dpi=(300, 300))
    got = []
    outcome = open_source("import", folder=folder).scan(ScanRequest(), on_page=got.append, stop=threading.Event())
    assert outcome.pages == 3 and [c.settings["frame"] for c in got] == [0, 1, 2]
    assert np.array_equal(got[2].image, np.asarray(rest[1]))
