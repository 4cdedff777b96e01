"""Shared pieces of the dashboard, work-order and auth tests: a real mosquitto (project config), the real
server app with its monitor on a real HTTP port, web accounts, a logged-in requests session and an SSE
reader. No tests here."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from server.auth import create_user
from server.broker import BrokerConfig, BrokerProcess, free_port

ADMIN = ("chi.admin", "mat-khau-quan-tri")
SUPERVISOR = ("anh.giamsat", "mat-khau-giam-sat")
STATIONS = ("st-a", "st-b")


@dataclass
class Floor:
    """A server (app + monitor) and a broker, with station accounts in both."""

    url: str
    context: Any
    broker: BrokerProcess
    secrets: dict[str, dict[str, str]]  # station id -> add_station() answer

    def telemetry(self, station_id: str, **kw: Any):
        from station.telemetry import Telemetry

        tel = Telemetry(station_id, host="127.0.0.1", port=self.broker.port, username=station_id,
                        password=self.secrets[station_id]["mqtt_password"], **kw)
        tel.start()
        return tel


def start_floor(tmp_path: Path, *, stations: tuple[str, ...] = STATIONS, monitor_kw: dict | None = None
                ) -> Iterator[Floor]:
    from server.app import build_context, create_app
    from server.config import ServerConfig
    from server.monitor import Monitor
    from conftest import LiveServer

    context = build_context(ServerConfig(data_dir=tmp_path / "server"))
    secrets = {sid: context.db.add_station(sid, name=f"Trạm {sid}") for sid in stations}
    accounts = {**context.db.mqtt_accounts(), "server": "server-pw"}
    config = BrokerConfig(port=free_port(), accounts=accounts, server_user="server")
    create_user(context.config.db_path, *ADMIN, role="admin")
    create_user(context.config.db_path, *SUPERVISOR, role="supervisor")
    with BrokerProcess.from_config(tmp_path / "broker", config) as broker:
        monitor = Monitor(host="127.0.0.1", port=broker.port, username="server", password="server-pw",
                          db_path=context.config.monitor_path, tick=0.1, **(monitor_kw or {}))
        context.monitor = monitor
        monitor.start()
        monitor.wait_until(lambda s: s["broker_connected"], 10)
        try:
            with LiveServer(create_app(context)) as live:
                yield Floor(live.url, context, broker, secrets)
        finally:
            monitor.stop()


@pytest.fixture
def floor(tmp_path: Path) -> Iterator[Floor]:
    yield from start_floor(tmp_path)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(url: str, name: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(url + "/login", timeout=10)
    resp = session.post(url + "/login", data={"username": name, "password": password,
                                              "csrf_token": csrf_from(page.text)}, allow_redirects=False, timeout=30)
    assert resp.status_code == 302, f"login failed: {resp.status_code} {resp.text[:300]}"
    return session


class SSEReader:
    """Reads /events in a thread; `next(kind)` returns the next message of that kind (data decoded)."""

    def __init__(self, session: requests.Session, url: str):
        self.messages: queue.Queue[tuple[str, dict, float]] = queue.Queue()
        self.resp = session.get(url + "/events", stream=True, timeout=(5, 60))
        assert self.resp.status_code == 200, self.resp.status_code
        assert self.resp.headers["Content-Type"].startswith("text/event-stream")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        kind, data = "message", []
        try:
            for raw in self.resp.iter_lines(chunk_size=1, decode_unicode=True):
                line = raw or ""
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    self.messages.put((kind, json.loads("\n".join(data)), time.time()))
                    kind, data = "message", []
        except (requests.RequestException, AttributeError, ValueError):
            return

    def next(self, kind: str, timeout: float = 10.0, where=lambda d: True) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind} message matching in {timeout} s")
            try:
                got, data, _ = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if got == kind and where(data):
                return data

    def close(self) -> None:
        self.resp.close()
