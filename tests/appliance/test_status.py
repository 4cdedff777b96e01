"""`sohoa status`: queue depths and last sync from a real station database, disk space, certificates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sohoa.appliance.status import ERROR, OK, UNKNOWN, WARNING, certificate_checks, disk_check, station_status
from sohoa.appliance.tls import make_ca
from station.config import StationConfig
from station.store import BatchState, Store


def _sealed_batch(store: Store, file_code: str) -> int:
    batch = store.create_batch(file_code=file_code, record={"file_code": file_code}, expected_sheets=1,
                               work_order_id=None, operator="op1")
    for state in (BatchState.REVIEW, BatchState.FINISHING):
        store.transition(batch["id"], state, actor="op1")
    return store.enqueue_package(batch["id"], package_path=f"/p/{file_code}.zip", sha256="A" * 64, size=10,
                                 actor="op1")


def _station(tmp_path: Path, demo_keys) -> StationConfig:
    data = tmp_path / "data"
    data.mkdir()
    phrase = tmp_path / "pass"
    phrase.write_bytes(demo_keys.passphrase)
    return StationConfig(data_dir=data, signing_p12=demo_keys.agency_p12, signing_passphrase_file=phrase)


def test_queue_depths_and_last_sync(tmp_path: Path, demo_keys) -> None:
    cfg = _station(tmp_path, demo_keys)
    store = Store(cfg.db_path)
    first = _sealed_batch(store, "F1")
    _sealed_batch(store, "F2")
    _sealed_batch(store, "F3")
    checks = {c.name: c for c in station_status(cfg, units=())}
    assert checks["sync queue"].detail == "3 package(s) waiting" and checks["last sync"].detail == "never"
    assert checks["last sync"].level == WARNING
    store.outbox_attempt(first, error="server unreachable")
    store.outbox_done(first, accepted=True, receipt={"verdict": "accepted"})
    store.outbox_attempt(first + 1, error="server unreachable: timeout")
    checks = {c.name: c for c in station_status(cfg, units=())}
    assert checks["sync queue"].detail.startswith("2 package(s) waiting; last error: server unreachable")
    assert checks["sync queue"].level == WARNING
    assert checks["last sync"].level == OK and checks["last sync"].detail.startswith("20")
    assert "SEALED 2" in checks["batches"].detail and "SYNCED 1" in checks["batches"].detail
    assert checks["signing certificate [" + checks_subject(checks) + "]"].level in (OK, WARNING)


def checks_subject(checks: dict) -> str:
    return next(name for name in checks if name.startswith("signing certificate ["))[len("signing certificate ["):-1]


def test_status_never_creates_the_database(tmp_path: Path, demo_keys) -> None:
    cfg = _station(tmp_path, demo_keys)
    checks = {c.name: c for c in station_status(cfg, units=())}
    assert checks["station database"].level == WARNING and not cfg.db_path.exists()
    Store(cfg.db_path)  # positive control: the same probes see a database once the station has made one
    checks = {c.name: c for c in station_status(cfg, units=())}
    assert cfg.db_path.exists() and "station database" not in checks and checks["sync queue"].level == OK


def test_services_unknown_without_systemd(tmp_path: Path, demo_keys) -> None:
    # This container has no systemd as PID 1: the answer is "unknown", never a false "ok".
    checks = station_status(_station(tmp_path, demo_keys), units=("sohoa-station.service",))
    assert checks[0].name == "service sohoa-station.service" and checks[0].level in (UNKNOWN, ERROR, WARNING, OK)
    if not Path("/run/systemd/system").exists():
        assert checks[0].level == UNKNOWN


def test_certificate_expiry_levels(tmp_path: Path) -> None:
    expired = make_ca(tmp_path / "a", name="Expired", days=-2)
    soon = make_ca(tmp_path / "b", name="Soon", days=10)
    fine = make_ca(tmp_path / "c", name="Fine", days=400)
    levels = [certificate_checks("ca", p.cert.read_bytes())[0].level for p in (expired, soon, fine)]
    assert levels == [ERROR, WARNING, OK]
    assert certificate_checks("ca", b"junk")[0].level == ERROR


def test_disk_check(tmp_path: Path) -> None:
    check = disk_check(tmp_path)
    assert check.level in (OK, WARNING, ERROR) and "GB free" in check.detail and "còn trống" in check.text("vi")
    assert disk_check(tmp_path / "missing").level == ERROR


def test_cli_json(tmp_path: Path, demo_keys) -> None:
    cfg = _station(tmp_path, demo_keys)
    Store(cfg.db_path)
    toml = tmp_path / "station.toml"
    toml.write_text(f'data_dir = "{cfg.data_dir}"\nsigning_p12 = "{demo_keys.agency_p12}"\n'
                    f'signing_passphrase_file = "{cfg.signing_passphrase_file}"\n')
    ca = make_ca(tmp_path / "tls", name="Expired TLS", days=-1)
    out = subprocess.run([sys.executable, "-m", "sohoa.cli", "status", "--station", str(toml), "--no-services",
                          "--tls", str(ca.cert), "--json"], capture_output=True, text=True, timeout=60)
    body = json.loads(out.stdout)
    assert out.returncode == 1 and body["overall"] == ERROR, "an expired certificate is an error"
    names = [c["name"] for c in body["checks"]]
    assert "sync queue" in names and "processing queue" in names and any(n.startswith("disk ") for n in names)


def test_server_status(archive_server, tmp_path: Path) -> None:
    from sohoa.appliance.backup import backup_server
    from sohoa.appliance.status import server_status

    _, ctx = archive_server
    backup_server(ctx.config, tmp_path / "backups" / "one")
    checks = {c.name: c for c in server_status(ctx.config, units=(), backups=tmp_path / "backups")}
    assert checks["stored package versions"].detail == "0"
    assert checks["uploads in progress"].detail == "0"
    assert checks[f"last backup in {tmp_path / 'backups'}"].level == OK
