"""Scratch folders of killed processes are removed at the next start; a live owner's never are."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from protocol.scratch import scratch, scratch_dir, sweep_scratch
from tests.support.scratch import scratch_owner


def test_a_killed_owners_folder_goes_a_live_owners_stays(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead, dead_dir = scratch_owner(tmp_path)
    live, live_dir = scratch_owner(tmp_path)
    try:
        assert dead_dir.is_dir() and live_dir.is_dir()
        dead.send_signal(signal.SIGKILL)  # no cleanup runs: what the OOM killer or kill -9 leaves
        dead.wait()
        mine = scratch_dir("early")
        other = tmp_path / "sohoa-sane-scans"  # not a scratch name (a user's scan folder): never touched
        other.mkdir()
        link = tmp_path / f"sohoa-check-{dead.pid}-link"  # a link named like a dead owner's folder
        link.symlink_to(other)
        assert sweep_scratch(tmp_path) == [dead_dir.name]
        assert not dead_dir.exists()
        assert live_dir.is_dir() and (live_dir / "doc-1.pdf").is_file() and mine.is_dir()
        assert other.is_dir() and link.is_symlink()
    finally:
        live.kill()
        live.wait()
    assert sweep_scratch(tmp_path) == [live_dir.name]  # its owner gone too


def test_scratch_names_carry_the_owner_and_the_context_manager_cleans_up(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with scratch("ocr") as folder:
        assert Path(folder).name.startswith(f"sohoa-ocr-{os.getpid()}-")
    assert not Path(folder).exists()
    for bad in ("stamp-font", "../x", "", "OCR"):
        with pytest.raises(ValueError):
            scratch_dir(bad)

