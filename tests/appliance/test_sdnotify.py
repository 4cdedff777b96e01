"""sd_notify: READY only once the HTTP port answers, watchdog pings that stop when the health check fails,
STOPPING on SIGTERM. NOTIFY_SOCKET is a datagram socket the test binds, as systemd's would be."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import requests

from sohoa.sdnotify import ServiceNotifier, http_check, notify, watchdog_interval
from tests.support.wait import wait_until


class NotifySocket:
    """The systemd side: receives datagrams, keeps each with its arrival time."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, list[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode().split("\n")))

    def wait_for(self, line: str, timeout: float, after: float = 0.0) -> float:
        def arrived() -> float | None:
            return next((at for at, lines in list(self.messages) if at >= after and line in lines), None)

        try:
            return wait_until(arrived, timeout, repr(line), interval=0.02)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; got {self.messages}") from None

    def count(self, line: str, since: float = 0.0) -> int:
        return sum(1 for at, lines in list(self.messages) if at >= since and line in lines)

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(2)


def test_server_process_ready_after_http_answers_pings_and_stopping(server_process, tmp_path: Path):
    systemd = NotifySocket(tmp_path / "notify.sock")
    try:
        import subprocess

        env = {**os.environ, "NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "600000"}
        with open(server_process.log, "ab") as log:
            proc = subprocess.Popen(server_process.argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        server_process.proc = proc
        ready = systemd.wait_for("READY=1", timeout=60)
        # The moment READY arrives, the API must already answer (not merely the port be bound).
        assert requests.get(server_process.url + "/api/v1/health", timeout=2).ok
        lines = next(lines for at, lines in systemd.messages if "READY=1" in lines)
        assert f"MAINPID={proc.pid}" in lines and any(x.startswith("STATUS=serving on") for x in lines)
        wait_until(lambda: systemd.count("WATCHDOG=1", since=ready) >= 2, 5, "two pings (every 0.3 s while healthy)")
        proc.send_signal(signal.SIGTERM)
        systemd.wait_for("STOPPING=1", timeout=10, after=ready)
        assert proc.wait(15) == 0
    finally:
        systemd.close()


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def _http_server(port: int) -> http.server.HTTPServer:
    server = http.server.HTTPServer(("127.0.0.1", port), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_pings_stop_when_the_health_check_fails_and_resume_after(tmp_path: Path):
    systemd = NotifySocket(tmp_path / "notify.sock")
    web = _http_server(0)
    port = web.server_address[1]
    loops = {"sync": True}
    env = {"NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "200000"}  # a ping every 0.1 s
    notifier = ServiceNotifier(
        http_check(f"http://127.0.0.1:{port}/health", timeout=0.5, threads=lambda: loops),
        ready_status="ok",
        name="test",
        env=env,
    )
    try:
        notifier.start()
        ready = systemd.wait_for("READY=1", timeout=5)
        systemd.wait_for("WATCHDOG=1", timeout=2, after=ready)
        # The web server stops answering: no more pings, and systemd's status says why.
        web.shutdown()
        web.server_close()
        systemd.wait_for(f"STATUS=unhealthy: http://127.0.0.1:{port}/health does not answer", timeout=3)
        time.sleep(0.3)  # a ping already in flight when the server went down may still arrive
        quiet = time.monotonic()
        time.sleep(0.8)  # a span of time without pings is the point (8 would have come); they resume below
        assert systemd.count("WATCHDOG=1", since=quiet) == 0, "pinged while the web server was down"
        # Back up: pings resume; then a dead main loop stops them again though the web server answers.
        web = _http_server(port)
        back = systemd.wait_for("WATCHDOG=1", timeout=3, after=quiet)
        loops["sync"] = False
        systemd.wait_for("STATUS=unhealthy: sync thread is not running", timeout=3, after=back)
        time.sleep(0.3)  # as above: a ping in flight may still arrive
        quiet = time.monotonic()
        time.sleep(0.6)  # a span without pings is the point; the same socket saw them arrive above
        assert systemd.count("WATCHDOG=1", since=quiet) == 0, "pinged while the sync loop was dead"
        notifier.stopping("bye")
        systemd.wait_for("STOPPING=1", timeout=2)
    finally:
        notifier.stopping()
        web.shutdown()
        web.server_close()
        systemd.close()


def test_no_ready_before_the_port_answers_and_no_notify_socket_is_a_no_op(tmp_path: Path):
    systemd = NotifySocket(tmp_path / "notify.sock")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notifier = ServiceNotifier(
        http_check(f"http://127.0.0.1:{port}/"), ready_status="ok", env={"NOTIFY_SOCKET": systemd.path}, poll_s=0.05
    )
    try:
        notifier.start()
        time.sleep(0.5)  # ten polls (every 0.05 s) of a port that does not answer; READY does arrive below
        assert systemd.count("READY=1") == 0, "READY before the web server answered"
        web = _http_server(port)
        opened = time.monotonic()
        assert systemd.wait_for("READY=1", timeout=3) >= opened
        web.shutdown()
        web.server_close()
    finally:
        notifier.stopping()
        systemd.close()
    assert watchdog_interval({}) is None and watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert notify("READY=1", env={}) is False
    assert notify("READY=1", env={"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False


def test_station_process_ready_after_its_ui_answers(tmp_path: Path):
    import subprocess

    systemd = NotifySocket(tmp_path / "notify.sock")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = tmp_path / "station"
    data.mkdir()
    conf = data / "station.toml"
    conf.write_text(f'data_dir = "{data}"\nport = {port}\nworkers = 1\n', encoding="utf-8")
    env = {**os.environ, "NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "600000"}
    with open(tmp_path / "station.log", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sohoa.cli", "station", "--config", str(conf)],
            cwd=Path(__file__).resolve().parents[2],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        ready = systemd.wait_for("READY=1", timeout=60)
        assert requests.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200
        systemd.wait_for("WATCHDOG=1", timeout=3, after=ready)
        proc.send_signal(signal.SIGTERM)
        systemd.wait_for("STOPPING=1", timeout=10, after=ready)
        assert proc.wait(30) == 0, (tmp_path / "station.log").read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        systemd.close()
