"""The station as a real process (waitress, SANE test scanner): a client that drops its connection after a
scan must not take the station down. libsane resets SIGPIPE to its fatal default after every frame; the
station once died (exit -13) the first time a browser reloaded during or after a scan."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import requests

from tests.support.servers import StationProcess

ROOT = Path(__file__).resolve().parents[2]
RECORD = {"agency_id": "000.00.00.H47", "year": 2001, "notation": "160.VP", "maintenance": "01", "mode": "01",
          "title": "Hồ sơ cấp giấy chứng nhận quyền sử dụng đất năm 2001", "language": "01",
          "start_date": "04/03/2001", "end_date": "28/12/2001", "fonds_code": "P_UBND_DN",
          "paper_file_code": "TTLT.K1-G05-H012.160"}


def _sigpipe_ignored(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGPIPE - 1) & 1)
    raise AssertionError("no SigIgn line in /proc/<pid>/status")


def _drop_mid_stream(port: int, path: str, token: str) -> None:
    """Open an event stream, read its first bytes, then reset the connection (as a reload does)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    assert b"200" in sock.recv(4096).split(b"\r\n")[0]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    sock.close()


def test_station_survives_dropped_event_streams_after_scans(tmp_path: Path):
    from station.auth import Accounts
    from station.store import Store

    data = tmp_path / "station"
    data.mkdir()
    Accounts(Store(data / "station.db")).add(code="op1", name="Lê Văn Quét", role="admin", pin="1357", actor="t")
    with StationProcess(data) as station:
        url, proc, log = station.url, station.proc, station.log
        token = station.login("op1", "1357")
        auth = {"Authorization": f"Bearer {token}"}
        batch = requests.post(url + "/api/batches", json={"record": RECORD}, headers=auth, timeout=10).json()
        for round_ in range(3):
            resp = requests.post(f"{url}/api/batches/{batch['id']}/scan", headers=auth, timeout=10,
                                 json={"kind": "sane", "request": {"source": "flatbed", "dpi": 300}})
            assert resp.status_code == 202, resp.text
            assert requests.post(f"{url}/api/batches/{batch['id']}/wait", json={"timeout": 60}, headers=auth,
                                 timeout=70).json()["idle"]
            assert _sigpipe_ignored(proc.pid), "SANE left SIGPIPE at its fatal default"
            for _ in range(3):
                _drop_mid_stream(station.port, f"/api/batches/{batch['id']}/events", token)
                time.sleep(0.7)  # the slot of a dropped stream (2 per operator) is freed at its next write
            time.sleep(1.2)  # the point: the stream writes again within 0.5 s, into the reset socket
            assert proc.poll() is None, f"station died ({proc.returncode}), round {round_}: {log.read_text()[-2000:]}"
        view = requests.get(f"{url}/api/batches/{batch['id']}", headers=auth, timeout=10).json()
        assert len(view["pages"]) == 3
