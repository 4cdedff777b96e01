"""One typed configuration loader (protocol.config) for station and server: a bad configuration stops a
service with exit 78 and one line naming the file, the key and what is expected, never a traceback; and
`sohoa config check` reports what would stop the station later (a format it cannot write, a signing key
that does not open)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from protocol.config import ConfigError, load
from sohoa.appliance.config_check import check_station_config, has_errors


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sohoa.cli", *argv], capture_output=True, text=True, timeout=120)


CASES = {
    "missing": (None, "file does not exist"),
    "syntax": ('data_dir = "/x\n', "not valid TOML"),
    "type": ('data_dir = "{d}"\nport = "8080"\n', "port: expected an integer, got '8080'"),
    "bool-port": ('data_dir = "{d}"\nport = true\n', "port: expected an integer, got true"),
    "range": ('data_dir = "{d}"\nport = 70000\n', "port: expected a value from 1 to 65535, got 70000"),
    "unknown": ('data_dir = "{d}"\nprot = 8080\n', "prot: unknown setting"),
    "required": ('port = 8080\n', "data_dir: is required"),
}


@pytest.mark.parametrize("role", ["server", "station"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_exits_78_with_one_line(tmp_path, role, case):
    text, expected = CASES[case]
    path = tmp_path / f"{role}.toml"
    if text is not None:
        path.write_text(text.replace("{d}", str(tmp_path)), encoding="utf-8")
    done = _run(role, "--config", str(path))
    assert done.returncode == 78, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(path) in lines[0] and expected in lines[0], lines[0]


def test_station_capture_format_it_cannot_write_is_refused(tmp_path):
    path = tmp_path / "station.toml"
    path.write_text(f'data_dir = "{tmp_path}"\ncapture_format = "jpeg"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="capture_format: expected one of 'png', 'tiff', got 'jpeg'"):
        load(path, __import__("station.config", fromlist=["StationConfig"]).StationConfig)
    problems = check_station_config(path)
    assert any(p.key == "capture_format" and not p.warning for p in problems), [p.line() for p in problems]


@pytest.mark.parametrize("damage", ["garbage", "wrong-passphrase", "unreadable"])
def test_config_check_opens_the_signing_key(tmp_path, demo_keys, damage):
    import os

    data = tmp_path / "data"
    data.mkdir()
    p12 = tmp_path / "agency.p12"
    p12.write_bytes(demo_keys.agency_p12.read_bytes() if damage != "garbage" else b"not a key at all")
    p12.chmod(0o600)
    phrase = tmp_path / "pass"
    phrase.write_bytes(b"wrong" if damage == "wrong-passphrase" else demo_keys.passphrase)
    phrase.chmod(0o600)
    path = tmp_path / "station.toml"
    path.write_text(f'data_dir = "{data}"\nsigning_p12 = "{p12}"\nsigning_passphrase_file = "{phrase}"\n')
    if damage == "unreadable":
        if os.geteuid() == 0:  # root reads anything: make it unreadable by being a folder's name instead
            p12.unlink()
            p12.mkdir()
        else:
            p12.chmod(0)
    problems = check_station_config(path)
    assert has_errors(problems) and any(p.key == "signing_p12" for p in problems), [p.line() for p in problems]
    good = tmp_path / "good.toml"
    phrase.write_bytes(demo_keys.passphrase)
    good.write_text(f'data_dir = "{data}"\nsigning_p12 = "{demo_keys.agency_p12}"\n'
                    f'signing_passphrase_file = "{phrase}"\n')
    demo_keys.agency_p12.chmod(0o600)
    assert not [p for p in check_station_config(good) if p.key == "signing_p12" and not p.warning]


@dataclass
class _Limits:
    min_dpi: float = field(default=200.0, metadata={"range": (72, 1200)})
    find_qr: bool = True


@dataclass
class _WithSection:
    data_dir: Path
    processing: _Limits = field(default_factory=_Limits)


def test_sections_have_their_own_keys_defaults_and_ranges(tmp_path):
    """A typed [section] (as the station's processing thresholds): defaults, ranges, unknown keys by name."""
    path = tmp_path / "c.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n[processing]\nmin_dpi = 300\n')
    cfg = load(path, _WithSection)
    assert cfg.processing.min_dpi == 300.0 and cfg.processing.find_qr is True and cfg.data_dir == tmp_path
    path.write_text(f'data_dir = "{tmp_path}"\n[processing]\nmin_dpi = 20\nfind_qrr = false\n')
    with pytest.raises(ConfigError) as err:
        load(path, _WithSection)
    keys = [p.key for p in err.value.problems]
    assert keys == ["processing.find_qrr", "processing.min_dpi"], keys


def test_service_start_refuses_a_missing_trust_root_and_a_signing_key_that_does_not_open(tmp_path, demo_keys):
    server = tmp_path / "server.toml"
    server.write_text(f'data_dir = "{tmp_path}"\ntrust_roots = ["{tmp_path}/gone.pem"]\n')
    done = _run("server", "--config", str(server))
    assert done.returncode == 78 and "trust_roots: expected an existing file" in done.stderr, done.stderr
    phrase = tmp_path / "pass"
    phrase.write_text("not the passphrase")
    station = tmp_path / "station.toml"
    station.write_text(f'data_dir = "{tmp_path}"\nsigning_p12 = "{demo_keys.agency_p12}"\n'
                       f'signing_passphrase_file = "{phrase}"\n')
    done = _run("station", "--config", str(station))
    assert done.returncode == 78 and "signing_p12:" in done.stderr and "passphrase" in done.stderr, done.stderr
    assert "not the passphrase" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
