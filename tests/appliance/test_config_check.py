"""`sohoa config check`: every problem of a station.toml / server.toml at once, with deeper checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sohoa.appliance.config_check import check_server_config, check_station_config, has_errors


def _secret(path: Path, text: str = "s3cret", mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def station_toml(tmp_path: Path, demo_keys) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    token = _secret(tmp_path / "token")
    phrase = _secret(tmp_path / "pass", demo_keys.passphrase.decode())
    path = tmp_path / "station.toml"
    path.write_text(f'data_dir = "{data}"\nstation_id = "tram-01"\nport = 8090\n'
                    f'server_url = "https://archive.example.vn"\ntoken_file = "{token}"\n'
                    f'signing_p12 = "{demo_keys.agency_p12}"\nsigning_passphrase_file = "{phrase}"\n', encoding="utf-8")
    demo_keys.agency_p12.chmod(0o600)
    return path


def test_good_station_config_has_no_errors(station_toml: Path) -> None:
    problems = check_station_config(station_toml)
    assert not has_errors(problems), [p.line() for p in problems]


def test_every_problem_reported_at_once(tmp_path: Path, station_toml: Path) -> None:
    leaky = _secret(tmp_path / "leaky", mode=0o644)
    text = station_toml.read_text().replace('port = 8090', 'port = 80\nbroker_port = "1883"\nscaner = "x"')
    text = text.replace('station_id = "tram-01"', 'station_id = "Trạm 1"')
    text += f'broker_host = "broker.example.vn"\nbroker_password_file = "{leaky}"\nocr_lang = "vie+klingon"\n'
    text += 'device = "fujitsu:fi-7160:1"\ntsa_url = "ftp://tsa"\n'
    station_toml.write_text(text, encoding="utf-8")
    problems = check_station_config(station_toml)
    by_key = {p.key: p for p in problems}
    # load_config would stop at the unknown key; the check goes on with the sound settings.
    assert {"scaner", "broker_port", "port", "station_id", "broker_password_file", "ocr_lang", "device",
            "tsa_url"} <= set(by_key), [p.line() for p in problems]
    assert "unknown setting" in by_key["scaner"].message
    assert "must be of type int" in by_key["broker_port"].message
    assert "0644" in by_key["broker_password_file"].message and "chmod 600" in by_key["broker_password_file"].message
    assert "klingon" in by_key["ocr_lang"].message
    assert "sane_backends" in by_key["device"].message
    assert all(p.message_vi and p.message_vi != p.message for p in problems)
    assert "s3cret" not in "".join(p.line() for p in problems), "secrets never printed"


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "station.toml"
    bad.write_text('data_dir = "/x\n')
    [problem] = check_station_config(bad)
    assert "not valid TOML" in problem.message
    [problem] = check_station_config(tmp_path / "nope.toml")
    assert "does not exist" in problem.message and "Không tìm thấy" in problem.message_vi


def test_station_warnings(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    path = tmp_path / "station.toml"
    path.write_text(f'data_dir = "{data}"\nserver_url = "http://10.0.0.5:8080"\n')
    problems = check_station_config(path)
    keys = {(p.key, p.warning) for p in problems}
    assert ("server_url", True) in keys and ("token_file", False) in keys and ("signing_p12", True) in keys


def test_server_config(tmp_path: Path, demo_keys) -> None:
    data = tmp_path / "srv"
    data.mkdir()
    path = tmp_path / "server.toml"
    path.write_text(f'data_dir = "{data}"\ntrust_roots = ["{demo_keys.ca_pem}"]\nbackup_dir = "{tmp_path}/copy"\n'
                    f'broker_host = "127.0.0.1"\nport = 70000\n')
    problems = check_server_config(path)
    errors = {p.key for p in problems if not p.warning}
    assert errors == {"port", "backup_dir", "broker_password_file"}, [p.line() for p in problems]
    path.write_text(f'data_dir = "{data}"\ntrust_roots = ["{tmp_path}/station.toml"]\n')
    (tmp_path / "station.toml").write_text("not a certificate")
    assert any("no PEM certificate" in p.message for p in check_server_config(path))


def test_expired_trust_root_is_an_error(tmp_path: Path) -> None:
    from sohoa.appliance.tls import make_ca

    old = make_ca(tmp_path / "old", name="Old CA", days=-1)
    data = tmp_path / "srv"
    data.mkdir()
    path = tmp_path / "server.toml"
    path.write_text(f'data_dir = "{data}"\ntrust_roots = ["{old.cert}"]\n')
    assert any(p.key == "trust_roots" and "expired" in p.message and not p.warning for p in check_server_config(path))


def test_cli_exit_codes_and_lines(station_toml: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sohoa.cli", "config", "check", *args], capture_output=True,
                              text=True, timeout=60)

    ok = run("--station", str(station_toml))
    assert ok.returncode == 0 and "0 error(s)" in ok.stdout, ok.stdout + ok.stderr
    station_toml.write_text(station_toml.read_text() + "port = 0\n", encoding="utf-8")  # duplicate key: bad TOML
    bad = run("--station", str(station_toml))
    assert bad.returncode == 1 and "ERROR" in bad.stdout and "TOML" in bad.stdout
