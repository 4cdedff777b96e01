"""API fuzzing: schemathesis generates requests from server/openapi.yaml against the real server process
on 127.0.0.1; no request may produce a 5xx, and answers must match the spec (status, type, schema)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from protocol import api

SPEC = Path(__file__).resolve().parents[2] / "server" / "openapi.yaml"


def _schemathesis() -> str:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert exe, "schemathesis is not installed in the venv: .venv/bin/pip install schemathesis"
    return exe


def _fuzz(server, creds: dict, *extra: str, timeout: float) -> str:
    done = subprocess.run(
        [_schemathesis(), "run", str(SPEC), "--url", server.url, "--workers", "1",
         "-H", f"Authorization: Bearer {creds['token']}", "-H", f"{api.HEADER_STATION}: {creds['station_id']}",
         "--checks", "all", "--exclude-checks", "positive_data_acceptance",  # state-dependent 409s are right
         *extra],
        capture_output=True, text=True, timeout=timeout, cwd=server.data_dir.parent)
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and "Exception on" not in log, log[-4000:]
    return done.stdout


def test_spec_is_served_and_matches_the_file(server_process):
    server_process.start()
    resp = requests.get(server_process.url + api.OPENAPI, timeout=10)
    assert resp.status_code == 200 and resp.text == SPEC.read_text(encoding="utf-8")


def test_short_fuzz_run_no_server_errors(server_process):
    creds = server_process.add_station("tram-01")
    server_process.start()
    out = _fuzz(server_process, creds, "--max-examples", "5", "--seed", "7", "--phases", "fuzzing",
                timeout=120)
    assert "passed" in out


@pytest.mark.stress
def test_long_fuzz_run_no_server_errors(server_process):
    creds = server_process.add_station("tram-01")
    server_process.start()
    _fuzz(server_process, creds, "--max-examples", "300", timeout=1800)
