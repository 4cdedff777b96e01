"""`sohoa reconcile` refuses what is not a batch folder, writing nothing, and explains a missing one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _reconcile(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sohoa.cli", "reconcile", "--batch", str(folder)],
                          capture_output=True, text=True, timeout=120)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_folder_that_is_not_a_batch_is_refused_and_left_untouched(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.png").write_bytes(b"\x89PNG not ours")
    (folder / "notes.txt").write_text("keep me")
    before = _tree(folder)
    done = _reconcile(folder)
    assert done.returncode != 0
    assert "not a batch folder" in done.stderr and "Traceback" not in done.stderr
    # test_a_real_batch_is_reconciled shows these probes see a quarantine happen
    assert _tree(folder) == before and not (folder / "quarantine").exists(), "nothing may be written or moved"


def test_foreign_sqlite_named_station_db_is_refused(tmp_path):
    import sqlite3

    folder = tmp_path / "other"
    folder.mkdir()
    sqlite3.connect(folder / "station.db").execute("CREATE TABLE t (x)").connection.commit()
    before = _tree(folder)
    done = _reconcile(folder)
    assert done.returncode != 0 and "no pages table" in done.stderr and "Traceback" not in done.stderr
    assert _tree(folder) == before


def test_missing_folder_is_explained(tmp_path):
    done = _reconcile(tmp_path / "nope")
    assert done.returncode != 0 and "does not exist" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "nope").exists()


def test_a_real_batch_is_reconciled(tmp_path):
    from station.capture.journal import Journal
    from station.store import Store

    batch = tmp_path / "batch"
    batch.mkdir()
    Journal(Store(batch / "station.db"), batch).reconcile()  # what `sohoa scan --batch` leaves behind
    done = _reconcile(batch)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("checked=0 quarantined=0")
    # Positive control of the probes the refusals use: in a real batch, a page file the journal never
    # recorded is moved to quarantine/, and the tree changes.
    (batch / "pages" / "b1").mkdir(parents=True)
    (batch / "pages" / "b1" / "0001.png").write_bytes(b"\x89PNG stray")
    before = _tree(batch)
    done = _reconcile(batch)
    assert done.returncode == 0 and done.stdout.startswith("checked=0 quarantined=1"), done.stdout + done.stderr
    assert _tree(batch) != before and (batch / "quarantine").is_dir()
