"""A server's start removes the scratch folders a killed server left in the temporary directory."""

from __future__ import annotations

import signal

from tests.support.scratch import scratch_owner


def test_a_server_start_removes_what_a_killed_server_left(tmp_path, monkeypatch):
    from server.app import build_context
    from server.config import ServerConfig

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead, left = scratch_owner(tmp_path)  # a server killed during a commit: its copies of the PDFs stay
    dead.send_signal(signal.SIGKILL)
    dead.wait()
    context = build_context(ServerConfig(data_dir=tmp_path / "server"))
    try:
        assert not left.exists()
    finally:
        context.db.close()
        context.catalog.close()
