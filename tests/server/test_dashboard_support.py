"""Shared pieces of the dashboard, work-order and auth tests: a real mosquitto (project config), the real
server app with its monitor on a real HTTP port, web accounts, a logged-in requests session and an SSE
reader. No tests here."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from server.accounts.auth import create_user
from server.mqtt.broker import BrokerConfig, BrokerProcess, free_port
from tests.support.web import ADMIN, SUPERVISOR

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
    from server.app import build_context
    from server.config import ServerConfig
    from server.monitoring.monitor import Monitor
    from tests.support.servers import serving

    context = build_context(ServerConfig(data_dir=tmp_path / "server"))
    secrets = {sid: context.db.add_station(sid, name=f"Trạm {sid}") for sid in stations}
    accounts = {**context.db.mqtt_accounts(), "server": "server-pw"}
    config = BrokerConfig(port=free_port(), accounts=accounts, server_user="server")
    create_user(context.db, *ADMIN, role="admin")
    create_user(context.db, *SUPERVISOR, role="supervisor")
    with BrokerProcess.from_config(tmp_path / "broker", config) as broker:
        monitor = Monitor(host="127.0.0.1", port=broker.port, username="server", password="server-pw",
                          db_path=context.config.monitor_path, tick=0.1, **(monitor_kw or {}))
        context.monitor = monitor
        monitor.start()
        monitor.wait_until(lambda s: s["broker_connected"], 10)
        try:
            with serving(context) as live:
                yield Floor(live.url, context, broker, secrets)
        finally:
            monitor.stop()


@pytest.fixture
def floor(tmp_path: Path) -> Iterator[Floor]:
    yield from start_floor(tmp_path)


class SSEReader:
    """Reads /events over a plain socket in a thread; `next(kind)` returns the next message of that kind.

    A plain socket rather than requests: closing it must end the stream at once (the server then notices
    and unsubscribes), where requests waits for its reader's blocked read.
    """

    def __init__(self, session: requests.Session, url: str):
        from urllib.parse import urlsplit

        self.messages: queue.Queue[tuple[str, dict, float]] = queue.Queue()
        parts = urlsplit(url)
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self.sock.sendall(f"GET /events HTTP/1.1\r\nHost: {parts.netloc}\r\nCookie: {cookie}\r\n"
                          "Accept: text/event-stream\r\n\r\n".encode())
        self.sock.settimeout(None)
        self.file = self.sock.makefile("rb")
        status = self.file.readline().decode()
        assert " 200 " in status, status
        headers = {}
        while (line := self.file.readline().decode().strip()):
            key, _, value = line.partition(":")
            headers[key.lower()] = value.strip()
        assert headers["content-type"].startswith("text/event-stream")
        self.chunked = headers.get("transfer-encoding") == "chunked"
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _lines(self):
        buffer = b""
        while True:
            if self.chunked:
                size = int(self.file.readline().strip() or b"0", 16)
                if size == 0:
                    return
                chunk = self.file.read(size)
                self.file.readline()
            else:
                chunk = self.file.read1(65536)
                if not chunk:
                    return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield line.decode("utf-8")

    def _read(self) -> None:
        kind, data = "message", []
        try:
            for line in self._lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    self.messages.put((kind, json.loads("\n".join(data)), time.time()))
                    kind, data = "message", []
        except (OSError, ValueError):
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
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
