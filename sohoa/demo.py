"""`sohoa demo`: one hồ sơ from the SANE test scanner to a verified package in the central archive.

Starts a Mosquitto broker with the project's config, the central server and one station as separate
processes on free local ports, then drives the station through its HTTP API exactly as the operator UI
does. Everything it makes lives under --data (default ./demo-data). Signing uses a demo CA made on first
run and labelled DEMO: it is never used unless the demo asks for it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

AGENCY_ID = "000.00.00.H47"
AGENCY_NAME = "Ủy ban nhân dân tỉnh Đồng Nai"
STATION_ID = "tram-01"
FONDS_CODE = "P_UBND_DN"
IMPORTED_PAGES = 3
ADF_SHEETS = 10  # the SANE test backend's feeder holds ten sheets
OPERATOR = "demo-operator"
SUPERVISOR = "giamsat"
OPERATOR_PIN = "2468"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run the end-to-end demo: scanner to archive")
    p.add_argument("--data", default="demo-data", help="folder for everything the demo makes")
    p.add_argument("--once", action="store_true", help="exit after the server's verdict (0 = stored)")
    p.add_argument("--timeout", type=float, default=900, help="seconds to wait for the verdict")
    p.set_defaults(func=run)


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


class Processes:
    """Child processes started by the demo, stopped in reverse order."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.children: list[tuple[str, Any]] = []

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.children.append((name, proc))
        return proc

    def add(self, name: str, stoppable: Any) -> None:
        self.children.append((name, stoppable))

    def stop(self) -> None:
        for _name, child in reversed(self.children):
            if isinstance(child, subprocess.Popen):
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
                    try:
                        child.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        child.kill()
                        child.wait()
            else:
                child.stop()
        self.children.clear()


def wait_http(url: str, *, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def run(args: argparse.Namespace) -> int:
    from server.mqtt.broker import free_port

    root = Path(args.data).resolve()
    for part in ("server", "station", "broker", "logs"):
        shutil.rmtree(root / part, ignore_errors=True)  # keys/ stays: the demo CA is made once
    (root / "logs").mkdir(parents=True)
    procs = Processes(root / "logs")
    try:
        keys = demo_keys(root)
        ports = {"broker": free_port(), "server": free_port(), "station": free_port()}
        accounts = seed_server(root, ports)
        start_broker(root, ports, accounts, procs)
        server_url = start_server(root, ports, keys, procs)
        station_url = start_station(root, ports, keys, accounts, server_url, procs)
        say(f"station UI:       {station_url}/")
        say(f"server dashboard: {server_url}/")
        verdict = digitise_one_file(station_url, server_url, timeout=args.timeout)
        if args.once:
            return 0 if verdict == "accepted" else 1
        say("demo running; press Ctrl-C to stop")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except RuntimeError as exc:
        say(f"FAILED: {exc} (logs in {root / 'logs'})")
        return 1
    finally:
        procs.stop()
        say("all processes stopped")


def demo_keys(root: Path) -> Any:
    from station.output.keys import ensure_demo_ca

    keys = ensure_demo_ca(root / "keys", agency_name=AGENCY_NAME)
    say(f"demo signing key (DEMO, not for production) for «{AGENCY_NAME}» in {root / 'keys'}")
    return keys


def seed_server(root: Path, ports: dict[str, int]) -> dict[str, str]:
    """Station account, fonds and one work order, as an administrator would enter them."""
    import secrets

    from protocol.metadata import file_code
    from server.records.db import ServerDB

    (root / "server").mkdir()
    db = ServerDB(root / "server" / "server.db")
    station = db.add_station(STATION_ID, name="Trạm số hóa 01")
    (root / "station").mkdir()
    _secret(root / "station" / "token", station["token"])
    _secret(root / "station" / "mqtt-password", station["mqtt_password"])
    db.add_fonds(FONDS_CODE, "Phông Ủy ban nhân dân tỉnh Đồng Nai")
    record = {
        "agency_id": AGENCY_ID, "year": 2001, "notation": "160.VP", "fonds_code": FONDS_CODE,
        "title": "Hồ sơ về việc cấp giấy chứng nhận quyền sử dụng đất tại huyện Long Thành năm 2001",
        "maintenance": "01", "mode": "01", "language": "01", "start_date": "04/03/2001",
        "end_date": "28/12/2001", "paper_file_code": "TTLT.K1-G05-H012.160", "format": "02",
        "agency_name": AGENCY_NAME,
    }
    code = file_code(AGENCY_ID, 2001, "160.VP")
    wo = db.add_workorder(fonds_code=FONDS_CODE, file_code=code, record=record,
                          expected_sheets=ADF_SHEETS + IMPORTED_PAGES, station_id=STATION_ID, priority=1)
    say(f"server: fonds {FONDS_CODE}, work order {wo} for hồ sơ {code} "
        f"({ADF_SHEETS + IMPORTED_PAGES} sheets expected), station account {STATION_ID}")
    from server.accounts.auth import create_user

    supervisor_password = secrets.token_urlsafe(9)
    create_user(db, SUPERVISOR, supervisor_password, role="supervisor")
    _secret(root / "server" / "supervisor-password", supervisor_password)
    say(f"supervisor account for the dashboard: {SUPERVISOR} / {supervisor_password}")
    server_password = secrets.token_urlsafe(24)
    _secret(root / "server" / "mqtt-password", server_password)
    return {**db.mqtt_accounts(), "server": server_password}


def _secret(path: Path, value: str) -> None:
    path.write_text(value + "\n")
    path.chmod(0o600)


def start_broker(root: Path, ports: dict[str, int], accounts: dict[str, str], procs: Processes) -> None:
    from server.mqtt.broker import BrokerConfig, BrokerProcess

    broker = BrokerProcess.from_config(root / "broker", BrokerConfig(
        port=ports["broker"], accounts=accounts, server_user="server"))
    broker.start()
    procs.add("broker", broker)
    say(f"MQTT broker (mosquitto, per-station accounts and ACL) on 127.0.0.1:{ports['broker']}")


def start_server(root: Path, ports: dict[str, int], keys: Any, procs: Processes) -> str:
    conf = root / "server" / "server.toml"
    conf.write_text(
        f'data_dir = "{root / "server"}"\nport = {ports["server"]}\n'
        f'trust_roots = ["{keys.ca_pem}"]\n'
        f'backup_dir = "{root / "server-backup"}"\n'
        f'broker_host = "127.0.0.1"\nbroker_port = {ports["broker"]}\nbroker_user = "server"\n'
        f'broker_password_file = "{root / "server" / "mqtt-password"}"\n', encoding="utf-8")
    url = f"http://127.0.0.1:{ports['server']}"
    proc = procs.spawn("server", [sys.executable, "-m", "sohoa", "server", "--config", str(conf)])
    wait_http(url + "/api/v1/health", proc=proc)
    say(f"central server running (PID {proc.pid})")
    return url


def start_station(root: Path, ports: dict[str, int], keys: Any, accounts: dict[str, str], server_url: str,
                  procs: Processes) -> str:
    from sohoa.samplepages import write_sample_folder

    st = root / "station"
    pages = write_sample_folder(st / "import" / "demo-pages", count=IMPORTED_PAGES, seed=2001, dpi=300,
                                skew_deg=1.5, yellow=True, noise=0.02)
    say(f"generated {len(pages)} Vietnamese administrative pages to import (scans made elsewhere)")
    conf = st / "station.toml"
    conf.write_text(
        f'data_dir = "{st}"\nstation_id = "{STATION_ID}"\nport = {ports["station"]}\n'
        f'server_url = "{server_url}"\ntoken_file = "{st / "token"}"\n'
        f'broker_host = "127.0.0.1"\nbroker_port = {ports["broker"]}\n'
        f'broker_password_file = "{st / "mqtt-password"}"\n'
        f'device = "test:0"\nagency_name = "{AGENCY_NAME}"\n'
        f'signing_p12 = "{keys.agency_p12}"\nsigning_passphrase_file = "{keys.passphrase_file}"\n'
        f'sync_interval = 2.0\n', encoding="utf-8")
    from station.auth import Accounts
    from station.store import Store

    Accounts(Store(st / "station.db")).add(code=OPERATOR, name="Nguyễn Văn An (demo)", role="supervisor",
                                           pin=OPERATOR_PIN, actor="demo")
    say(f"operator account {OPERATOR} (PIN {OPERATOR_PIN}) created on the station")
    url = f"http://127.0.0.1:{ports['station']}"
    proc = procs.spawn("station", [sys.executable, "-m", "sohoa", "station", "--config", str(conf)])
    wait_http(url + "/api/status", proc=proc)
    say(f"station {STATION_ID} running (PID {proc.pid}), scanner: SANE test device, feeder mode")
    return url


_session: dict[str, str] = {}


def _login(station: str) -> None:
    body = _api("POST", f"{station}/api/login", json={"operator": OPERATOR, "pin": OPERATOR_PIN})
    _session["Authorization"] = f"Bearer {body['token']}"
    say(f"operator {body['name']} logs in ({body['role']})")


def _wait_idle(station: str, bid: int, limit_s: float = 300) -> None:
    """POST /wait takes at most 60 s per call (it holds a station thread): ask again until idle."""
    deadline = time.monotonic() + limit_s
    while not _api("POST", f"{station}/api/batches/{bid}/wait", json={"timeout": 60}, timeout=80).get("idle"):
        if time.monotonic() > deadline:
            raise SystemExit(f"[demo] batch {bid} not idle after {limit_s:.0f} s")


def _api(method: str, url: str, **kwargs: Any) -> dict:
    resp = requests.request(method, url, timeout=kwargs.pop("timeout", 60), headers=dict(_session), **kwargs)
    try:
        body = resp.json()
    except ValueError:
        body = {"message": resp.text[:300]}
    if resp.status_code >= 400:
        raise RuntimeError(f"{method} {url}: {resp.status_code} {body.get('message')}")
    return body


def digitise_one_file(station: str, server: str, *, timeout: float) -> str:
    from sohoa.samplepages import sample_metadata

    _login(station)
    orders = _api("GET", f"{station}/api/workorders")["workorders"]
    if not orders:
        raise RuntimeError("the station received no work order from the server")
    wo = orders[0]
    say(f"operator picks work order {wo['id']}: {wo['record']['title']}")
    batch = _api("POST", f"{station}/api/batches", json={
        "record": wo["record"], "expected_sheets": wo["expected_sheets"], "work_order_id": wo["id"]})
    bid = batch["id"]
    t0 = time.monotonic()
    _api("POST", f"{station}/api/batches/{bid}/scan",
         json={"kind": "sane", "request": {"source": "adf", "dpi": 300, "mode": "color"}})
    _wait_idle(station, bid)
    view = _api("GET", f"{station}/api/batches/{bid}")
    scanned = len(view["pages"])
    say(f"scanned {scanned} pages from the feeder in {time.monotonic() - t0:.1f} s "
        "(each written, fsynced and journalled with its SHA-256 before it was reported)")
    _api("POST", f"{station}/api/batches/{bid}/scan", json={"kind": "import", "folder": "demo-pages"})
    _wait_idle(station, bid)
    view = _api("GET", f"{station}/api/batches/{bid}")
    say(f"imported {len(view['pages']) - scanned} pages; {len(view['pages'])} pages in the hồ sơ")
    _api("POST", f"{station}/api/batches/{bid}/review")
    view = _wait_processed(station, bid)
    for p in view["pages"]:
        proc = p["processing"] or {}
        flags = ", ".join(f["code"] for f in p["flags"]) or "no flags"
        say(f"  page {p['seq']:2d} ({p['source']}): skew {proc.get('angle', 0):+.2f}°, "
            f"blank={bool(p['blank'])}, {flags}")
    for item in view.get("unresolved", []):
        _api("POST", f"{station}/api/pages/{item['page_id']}/accept")
    if view.get("unresolved"):
        say(f"operator reviews and accepts the {len(view['unresolved'])} flagged pages")
    pages = view["pages"]
    scanned_ids = [p["id"] for p in pages if p["source"] != "import" and not p["blank"]]
    imported_ids = [p["id"] for p in pages if p["source"] == "import" and not p["blank"]]
    meta = sample_metadata(2001)
    docs = []
    if scanned_ids:
        docs.append({"ordinal": 1, "record": {
            "ordinal": 1, "type_name": "30", "issued_date": "04/03/2001", "organ_name": AGENCY_NAME,
            "subject": "Bản đồ hiện trạng sử dụng đất (tờ quét thử của máy quét)", "page_ids": scanned_ids}})
    docs.append({"ordinal": len(docs) + 1, "record": {
        "ordinal": len(docs) + 1, "type_name": meta["type_name"], "code_number": meta["code_number"],
        "code_notation": meta["code_notation"], "issued_date": meta["issued_date"],
        "organ_name": meta["organ_name"], "subject": meta["subject"], "page_ids": imported_ids}})
    _api("POST", f"{station}/api/batches/{bid}/documents", json={"documents": docs})
    say(f"operator splits the hồ sơ into {len(docs)} documents and enters their metadata")
    t1 = time.monotonic()
    _api("POST", f"{station}/api/batches/{bid}/finish")
    say("finishing: Vietnamese OCR → two-layer PDF/A-2b → PAdES signature → TT05 package → sync queue")
    state = _wait_state(station, bid, {"SYNCED", "REJECTED"}, timeout=timeout)
    view = _api("GET", f"{station}/api/batches/{bid}")
    say(f"finished and synced in {time.monotonic() - t1:.1f} s")
    receipt = json.loads(view["outbox"][-1]["receipt"]) if view["outbox"] and view["outbox"][-1]["receipt"] else {}
    if state == "SYNCED":
        say(f"VERDICT: accepted — package {receipt.get('objid')} verified and stored by the server "
            f"(SHA-256 {str(receipt.get('stored_sha256'))[:16]}…, receipt signed by the server)")
        return "accepted"
    say("VERDICT: rejected — " + "; ".join(receipt.get("reasons", [])))
    return "rejected"


def _wait_processed(station: str, bid: int, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = _api("GET", f"{station}/api/batches/{bid}")
        if all(p["processed_at"] for p in view["pages"]):
            return view
        time.sleep(0.5)
    raise RuntimeError("page processing did not finish")


def _wait_state(station: str, bid: int, states: set[str], *, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        view = _api("GET", f"{station}/api/batches/{bid}")
        if view["error"]:
            raise RuntimeError(f"finishing failed: {view['error']['message']}")
        step = (view["state"], view["finishing"])
        if step != last:
            if view["finishing"]:
                say(f"  … {view['finishing']}")
            last = step
        if view["state"] in states:
            return view["state"]
        time.sleep(0.5)
    raise RuntimeError(f"no verdict within {timeout:.0f} s")
