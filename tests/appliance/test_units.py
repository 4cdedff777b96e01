"""systemd units: `systemd-analyze verify` passes on every unit, and the services are hardened.

There is no systemd as PID 1 here, but `systemd-analyze verify --root=DIR` works offline: DIR holds a copy
of the system's unit folder (for the targets our units name), stub executables at the paths the units
run, and our units unchanged in DIR/etc/systemd/system. verify returns 0 even on unknown keys or bad
values (it only warns), so the tests require an empty stderr too.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted(p.name for p in (REPO / "systemd").glob("sohoa-*.*") if p.suffix in (".service", ".timer", ".path"))
SERVICES = [u for u in UNITS if u.endswith(".service")]
LONG_RUNNING = ["sohoa-server.service", "sohoa-station.service", "sohoa-mosquitto.service", "sohoa-kiosk.service"]


def _systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    assert path, "systemd-analyze is missing: apt-get install systemd"
    return path


def _unit(name: str, root: Path | None = None) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive in systemd
    text = ((root / "etc/systemd/system") if root else (REPO / "systemd")).joinpath(name).read_text()
    # configparser keeps only the last of repeated keys; systemd sums them: join them for the checks below.
    parser.read_string(re.sub(r"\\\n", " ", text))
    return parser


@pytest.fixture(scope="module")
def unit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    executables = set()
    for name in UNITS:
        for line in (REPO / "systemd" / name).read_text().splitlines():
            if re.match(r"^Exec\w+=", line):
                executables.add(line.split("=", 1)[1].lstrip("-@!+").split()[0])
    for exe in executables:
        stub = root / exe.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True)
    for name in UNITS:
        shutil.copy(REPO / "systemd" / name, root / "etc/systemd/system" / name)
    return root


def _verify(root: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        # --man=no: Documentation=man:... would run `man`, which a minimal Debian does not have
        [_systemd_analyze(), "verify", "--man=no", f"--root={root}", name],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
    )


def test_the_expected_units_exist() -> None:
    for name in (
        "sohoa-server.service",
        "sohoa-station.service",
        "sohoa-kiosk.service",
        "sohoa-mosquitto.service",
        "sohoa-fixity.service",
        "sohoa-fixity.timer",
        "sohoa-backup.service",
        "sohoa-backup.timer",
    ):
        assert name in UNITS, f"systemd/{name} is missing"


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify_is_clean(unit_root: Path, name: str) -> None:
    out = _verify(unit_root, name)
    assert out.returncode == 0 and not out.stderr.strip(), f"{name}: rc={out.returncode}\n{out.stderr}"


def test_verify_would_catch_a_broken_unit(unit_root: Path) -> None:
    """The check above can fail: a misspelt key and a bad value are reported."""
    broken = unit_root / "etc/systemd/system/sohoa-broken.service"
    text = (REPO / "systemd/sohoa-server.service").read_text()
    broken.write_text(
        text.replace("ProtectSystem=strict", "ProtectSytem=strict").replace("RestartSec=5", "RestartSec=soon")
    )
    try:
        out = _verify(unit_root, broken.name)
    finally:
        broken.unlink()
    assert "Unknown key 'ProtectSytem'" in out.stderr and "sec value" in out.stderr, out.stderr


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_are_hardened(name: str) -> None:
    svc = _unit(name)["Service"]
    assert svc.get("User") and svc["User"] != "root", "a dedicated user"
    assert svc.get("NoNewPrivileges") == "yes"
    assert svc.get("ProtectSystem") == "strict"
    assert svc.get("PrivateTmp") == "yes"
    assert svc.get("ProtectHome") == "yes"
    assert svc.get("CapabilityBoundingSet", None) == "", "no capabilities at all"
    assert svc.get("ReadWritePaths"), "explicit writable paths with ProtectSystem=strict"
    assert svc.get("Restart") in ("on-failure", "always") and float(svc.get("RestartSec", "0")) > 0


def test_writable_paths_are_the_data_folders() -> None:
    # The server also re-renders mosquitto's accounts (optional: "-" when the folder does not exist).
    assert _unit("sohoa-server.service")["Service"]["ReadWritePaths"] == "/var/lib/sohoa/server -/etc/sohoa/mosquitto"
    assert _unit("sohoa-station.service")["Service"]["ReadWritePaths"] == "/var/lib/sohoa/station"
    station = (REPO / "systemd/sohoa-station.service").read_text()
    assert "DevicePolicy=closed" in station and "DeviceAllow=char-usb_device rw" in station
    assert "SupplementaryGroups=scanner" in station


@pytest.mark.parametrize("name", [s for s in SERVICES if s != "sohoa-kiosk.service"])
def test_exposure_score(unit_root: Path, name: str) -> None:
    """systemd's own security review, offline: every service but the kiosk browser scores 'OK' or better."""
    out = subprocess.run(
        [_systemd_analyze(), "security", "--offline=true", f"--root={unit_root}", "--no-pager", name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out.stdout)
    assert match, out.stdout[-2000:] + out.stderr
    assert float(match[1]) <= 2.0, f"{name}: exposure {match[1]}\n{out.stdout[-3000:]}"


def test_timers_run_their_services() -> None:
    for timer in ("sohoa-fixity.timer", "sohoa-backup.timer"):
        parsed = _unit(timer)
        assert parsed["Timer"].get("Persistent") == "true" and parsed["Timer"].get("OnCalendar")
        assert (REPO / "systemd" / timer.replace(".timer", ".service")).exists()
    assert "fixity" in _unit("sohoa-fixity.service")["Service"]["ExecStart"]
    assert "server-backup" in _unit("sohoa-backup.service")["Service"]["ExecStart"]


def test_exec_lines_name_real_sohoa_commands() -> None:
    """Every `sohoa ...` command a unit runs parses with the real CLI (a renamed command breaks boot)."""
    from sohoa.cli import build_parser

    parser = build_parser()
    for name in UNITS:
        for line in (REPO / "systemd" / name).read_text().splitlines():
            if re.match(r"^Exec\w+=/opt/sohoa/\.venv/bin/sohoa ", line):
                argv = line.split("=", 1)[1].split()[1:]
                args = parser.parse_args(argv)
                assert getattr(args, "func", None), f"{name}: {argv} runs no command"


def test_broker_reload_path_unit_watches_what_the_server_writes() -> None:
    """The server's user may not signal mosquitto: a path unit watching passwd reloads the broker unit."""
    path = _unit("sohoa-broker-reload.path")["Path"]
    assert path["PathChanged"] == "/etc/sohoa/mosquitto/passwd" and path["Unit"] == "sohoa-broker-reload.service"
    assert "reload" in _unit("sohoa-broker-reload.service")["Service"]["ExecStart"]
    assert "sohoa-mosquitto.service" in _unit("sohoa-broker-reload.service")["Service"]["ExecStart"]
    assert _unit("sohoa-mosquitto.service")["Service"]["ExecReload"] == "/bin/kill -HUP $MAINPID"


@pytest.mark.parametrize("name", ["sohoa-server.service", "sohoa-station.service"])
def test_services_notify_ready_and_feed_the_watchdog(name: str) -> None:
    svc = _unit(name)["Service"]
    assert svc["Type"] == "notify" and svc["NotifyAccess"] == "main"
    assert svc["WatchdogSec"].endswith("s") and int(svc["WatchdogSec"][:-1]) >= 30


def test_broker_unit_may_write_where_the_rendered_config_persists() -> None:
    """Issue #9: persistence was in /etc/sohoa/mosquitto/data (read-only here). `sohoa server broker-config`
    renders it into its --data-dir, whose default must be the unit's only writable path."""
    import argparse

    from server.cli import register

    svc = _unit("sohoa-mosquitto.service")["Service"]
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["server", "broker-config"])
    assert svc["ReadWritePaths"] == args.data_dir == "/var/lib/sohoa-mosquitto"
    assert svc["ReadOnlyPaths"] == "/etc/sohoa/mosquitto" and not args.data_dir.startswith("/etc/")
    assert "-c /etc/sohoa/mosquitto/mosquitto.conf" in svc["ExecStart"] and svc["User"] == "mosquitto"
