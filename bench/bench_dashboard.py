"""Dashboard under load: N simulated stations (real Telemetry publishers) each send R messages a second
through the real mosquitto (project config) to the real server process (monitor + web UI); a logged-in
server-sent-events client measures event-to-screen latency (station timestamp -> SSE message parsed), and
the server's CPU and memory are read from /proc.

Each station's R messages a second: progress counters and, every other message, a `qc_flag` event (the
events carry the station's send time in `at`, which is what the latency is measured from).

Environment: SOHOA_BENCH_STATIONS (100), SOHOA_BENCH_RATE (5), SOHOA_BENCH_SECONDS (60),
SOHOA_BENCH_PROCS (2 simulator processes).
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from protocol.clock import parse_iso

ROOT = Path(__file__).resolve().parents[1]
SIMULATOR = """
import sys, time, json
from station.telemetry import Telemetry
port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
accounts = json.loads(sys.stdin.read())
tels = [Telemetry(sid, host="127.0.0.1", port=port, username=sid, password=pw, heartbeat=0) for sid, pw in accounts]
for t in tels:
    t.start()
deadline = time.monotonic() + 15
while not all(t.connected for t in tels) and time.monotonic() < deadline:
    time.sleep(0.05)
for i, t in enumerate(tels):
    t.set_state(operator=f"op-{i % 7}", batch=f"b-{t.station_id}", batch_state="OPEN", fonds="G09",
                file_code=f"000.00.00.H47.2001.{i}.VP", scanner="scanning")
print("ready", flush=True)
sys.stdin.close()
start = time.monotonic()
tick, n, sent = 1.0 / rate, 0, 0
pages = [0] * len(tels)
while time.monotonic() - start < seconds:
    for i, t in enumerate(tels):
        if n % 2:
            t.event("qc_flag", code="skewed", message="Page is still skewed by 1.50°",
                    msgid="Page is still skewed by %(skew).2f°", params={"skew": 1.5})
        else:
            pages[i] += 1
            t.progress(pages_captured=pages[i], pages_per_minute=60.0 * rate / 2, queue_ocr=n % 5)
        sent += 1
    n += 1
    time.sleep(max(0.0, start + n * tick - time.monotonic()))
time.sleep(1.0)
for t in tels:
    t.stop(timeout=0.5)
print(json.dumps({"sent": sent, "late_ms": round((time.monotonic() - start - seconds) * 1000)}), flush=True)
"""


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


class SSEClient(threading.Thread):
    def __init__(self, url: str, cookies: dict[str, str]):
        super().__init__(daemon=True)
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.sock.sendall(f"GET /events HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\r\n".encode())
        self.sock.settimeout(None)
        self.latencies: list[float] = []
        self.messages = 0
        self.events = 0
        self.dropped = 0
        self.recording = False

    def run(self) -> None:
        file = self.sock.makefile("rb")
        while file.readline().strip():
            pass  # status line and headers
        data = b""
        try:
            while True:
                size = int(file.readline().strip() or b"0", 16)  # waitress streams chunked
                if size == 0:
                    return
                chunk = file.read(size)
                file.readline()
                data += chunk
                while b"\n\n" in data:
                    message, data = data.split(b"\n\n", 1)
                    self._message(message.decode())
        except (OSError, ValueError):
            return

    def _message(self, text: str) -> None:
        kind, payload = "", ""
        for line in text.splitlines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                payload += line[5:].strip()
        if kind != "delta" or not self.recording:
            return
        now = time.time()
        body = json.loads(payload)
        self.messages += 1
        self.dropped += body.get("events_dropped", 0)
        for event in body["events"]:
            self.events += 1
            self.latencies.append((now - parse_iso(event["at"]).timestamp()) * 1000)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def run(stations: int, rate: float, seconds: float, procs: int) -> dict:
    from server.accounts.auth import create_user
    from server.mqtt.broker import BrokerConfig, BrokerProcess
    from server.records.db import ServerDB

    work = Path(tempfile.mkdtemp(prefix="sohoa-bench-dash-"))
    data = work / "server"
    data.mkdir()
    db = ServerDB(data / "server.db")
    ids = [f"st-{i:03d}" for i in range(stations)]
    # the stations log in with the secret add_station returns once; the broker keeps only its hash
    secrets_by_station = {sid: db.add_station(sid)["mqtt_password"] for sid in ids}
    accounts = db.mqtt_accounts()
    (data / "mqtt-password").write_text("server-pw\n")
    create_user(data / "server.db", "bench", "bench-password", "supervisor")
    broker_port, port = _free_port(), _free_port()
    broker = BrokerProcess.from_config(work / "broker", BrokerConfig(
        port=broker_port, accounts={**accounts, "server": "server-pw"}, server_user="server"))
    broker.start()
    conf = work / "server.toml"
    conf.write_text(f'data_dir = "{data}"\nport = {port}\nbroker_host = "127.0.0.1"\nbroker_port = {broker_port}\n'
                    f'broker_password_file = "{data / "mqtt-password"}"\n', encoding="utf-8")
    log = open(work / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "sohoa.cli", "server", "--config", str(conf)], cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    sims: list[subprocess.Popen] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/api/v1/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"server did not start: {(work / 'server.log').read_text()[-2000:]}")
            time.sleep(0.1)
        session = requests.Session()
        page = session.get(url + "/login", timeout=10).text
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found, "no csrf_token on the login page"
        token = found.group(1)
        session.post(url + "/login", data={"username": "bench", "password": "bench-password", "csrf_token": token},
                     timeout=30)
        sse = SSEClient(url, session.cookies.get_dict())
        sse.start()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for k in range(procs):
            mine = [(sid, secrets_by_station[sid]) for sid in ids[k::procs]]
            sim = subprocess.Popen([sys.executable, "-c", SIMULATOR, str(broker_port), str(rate), str(seconds)],
                                   cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert sim.stdin and sim.stdout
            sim.stdin.write(json.dumps(mine))
            sim.stdin.flush()
            sims.append(sim)
        sse.recording = True  # before "ready": a simulator publishes as soon as its stations are up
        for sim in sims:
            assert sim.stdin and sim.stdout
            sim.stdin.close()
            assert sim.stdout.readline().strip() == "ready", "simulator failed to connect"
        cpu0, t0 = _proc_cpu(server.pid), time.monotonic()
        broker_pid = broker.pid
        assert broker_pid is not None, "the broker is not running"
        bcpu0 = _proc_cpu(broker_pid)
        rss_peak = 0.0
        while any(s.poll() is None for s in sims):
            rss_peak = max(rss_peak, _proc_rss_mb(server.pid))
            time.sleep(1.0)
            if time.monotonic() - t0 > seconds + 60:
                raise RuntimeError("simulators did not finish")
        wall = time.monotonic() - t0
        cpu = _proc_cpu(server.pid) - cpu0
        bcpu = _proc_cpu(broker_pid) - bcpu0
        results = [json.loads(s.stdout.read().strip().splitlines()[-1]) for s in sims if s.stdout]
        time.sleep(1.0)
        sse.recording = False
        sse.close()
        sent = sum(r["sent"] for r in results)
        return {
            "stations": stations, "rate": rate, "seconds": seconds, "messages_sent": sent,
            "events_sent": sent // 2, "events_seen": sse.events, "events_coalesced_away": sse.dropped,
            "sse_messages": sse.messages, "latency_ms_p50": round(_pct(sse.latencies, 0.50), 1),
            "latency_ms_p99": round(_pct(sse.latencies, 0.99), 1),
            "latency_ms_max": round(max(sse.latencies, default=float("nan")), 1),
            "server_cpu_percent_of_one_core": round(100 * cpu / wall, 1),
            "broker_cpu_percent_of_one_core": round(100 * bcpu / wall, 1),
            "server_rss_mb_peak": round(rss_peak, 1), "server_rss_mb_end": round(_proc_rss_mb(server.pid), 1),
            "simulator_late_ms": max(r["late_ms"] for r in results),
        }
    finally:
        for sim in sims:
            if sim.poll() is None:
                sim.kill()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        broker.stop()
        log.close()


def main() -> int:
    stations = int(_env("SOHOA_BENCH_STATIONS", 100))
    rate = _env("SOHOA_BENCH_RATE", 5)
    seconds = _env("SOHOA_BENCH_SECONDS", 60)
    procs = int(_env("SOHOA_BENCH_PROCS", 2))
    result = run(stations, rate, seconds, procs)
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    result["machine"] = f"{platform.node()} · {cpu} · {os.cpu_count()} cores · Python {platform.python_version()}"
    result["date"] = time.strftime("%Y-%m-%d %H:%M %z")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    ok = result["latency_ms_p99"] < 500
    print(f"event-to-screen p50 {result['latency_ms_p50']} ms, p99 {result['latency_ms_p99']} ms "
          f"(target p99 < 500 ms: {'met' if ok else 'MISSED'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
