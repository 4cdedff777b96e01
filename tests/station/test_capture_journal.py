"""The durable journal: layout, hashes, and start-up reconciliation of files against rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from protocol.hashing import sha256_file
from station.capture.journal import Journal
from station.capture.source import CapturedImage
from station.store import Store


def captured(seed: int, side: str = "single") -> CapturedImage:
    image = np.random.default_rng(seed).integers(0, 255, (300, 200, 3), dtype=np.uint8)
    return CapturedImage(image=image, dpi=300.0, side=side, sheet=1, device="test:0",
                         settings={"resolution": 300.0}, source="adf")


def test_record_writes_then_commits(journal: Journal, station_store: Store, batch_id: int, data_dir: Path) -> None:
    rows = [journal.record(batch_id, captured(i), actor="op") for i in range(3)]
    assert [r["seq"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert sha256_file(data_dir / row["path"]) == row["sha256"]
        assert (row["width"], row["height"]) == (200, 300)
    leftovers = [p.name for p in (data_dir / "pages").rglob("*") if p.name.endswith(".part")]
    assert leftovers == []
    assert journal.reconcile().clean


def test_backs_pair_with_their_fronts(journal: Journal, batch_id: int) -> None:
    sides = ["front", "back", "front", "back", "single"]
    rows = [journal.record(batch_id, captured(i, side), actor="op") for i, side in enumerate(sides)]
    assert [(r["sheet"], r["side"]) for r in rows] == [(1, "front"), (1, "back"), (2, "front"), (2, "back"),
                                                       (3, "single")]


def test_reconcile_moves_strays_aside_and_reports_damage(journal: Journal, station_store: Store, batch_id: int,
                                                         data_dir: Path) -> None:
    rows = [journal.record(batch_id, captured(i), actor="op") for i in range(4)]
    folder = (data_dir / rows[0]["path"]).parent
    # A crash mid-write leaves the temp file; a crash between rename and commit leaves a whole file, no row.
    (folder / ".00005-single.png.part").write_bytes(b"\x89PNG half")
    (folder / "00005-single.png").write_bytes((data_dir / rows[0]["path"]).read_bytes())
    (data_dir / rows[1]["path"]).unlink()  # missing
    with open(data_dir / rows[2]["path"], "r+b") as handle:  # bit rot
        handle.seek(100)
        handle.write(b"\x00\x01\x02")

    report = journal.reconcile()
    assert sorted(report.quarantined) == sorted([f"{folder.relative_to(data_dir)}/.00005-single.png.part",
                                                 f"{folder.relative_to(data_dir)}/00005-single.png"])
    assert not (folder / "00005-single.png").exists() and not (folder / ".00005-single.png.part").exists()
    moved = sorted(p.name for p in (data_dir / "quarantine").rglob("*") if p.is_file())
    assert len(moved) == 2 and any(n.endswith("-00005-single.png") for n in moved)
    assert [r["seq"] for r in report.missing] == [2]
    assert [r["seq"] for r in report.corrupt] == [3]
    assert report.checked == 4 and not report.clean
    audit = station_store.query("SELECT action FROM audit WHERE action = 'page.quarantined'")
    assert len(audit) == 2
    # the batch resumes where it stopped: the next page takes seq 5 with a fresh file
    row = journal.record(batch_id, captured(9), actor="op")
    assert row["seq"] == 5 and sha256_file(data_dir / row["path"]) == row["sha256"]


def test_record_never_reuses_a_stray_file(journal: Journal, batch_id: int, data_dir: Path) -> None:
    first = journal.record(batch_id, captured(1), actor="op")
    stray = (data_dir / first["path"]).parent / "00002-single.png"
    stray.write_bytes(b"left by a crash")
    row = journal.record(batch_id, captured(2), actor="op")
    assert row["path"].endswith("00002-single.png")
    assert sha256_file(data_dir / row["path"]) == row["sha256"]
    assert any(p.read_bytes() == b"left by a crash" for p in (data_dir / "quarantine").rglob("*") if p.is_file())
