"""`sohoa config check`: every problem of a station.toml / server.toml at once, with deeper checks."""

from __future__ import annotations

import os
import pwd
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
    path.write_text(
        f'data_dir = "{data}"\nstation_id = "tram-01"\nport = 8090\n'
        f'server_url = "https://archive.example.vn"\ntoken_file = "{token}"\n'
        f'signing_p12 = "{demo_keys.agency_p12}"\nsigning_passphrase_file = "{phrase}"\n',
        encoding="utf-8",
    )
    demo_keys.agency_p12.chmod(0o600)
    return path


def test_good_station_config_has_no_errors(station_toml: Path) -> None:
    problems = check_station_config(station_toml)
    assert not has_errors(problems), [p.line() for p in problems]


def test_every_problem_reported_at_once(tmp_path: Path, station_toml: Path) -> None:
    leaky = _secret(tmp_path / "leaky", mode=0o644)
    text = station_toml.read_text().replace("port = 8090", 'port = 80\nbroker_port = "1883"\nscaner = "x"')
    text = text.replace('station_id = "tram-01"', 'station_id = "Trạm 1"')
    text += f'broker_host = "broker.example.vn"\nbroker_password_file = "{leaky}"\nocr_lang = "vie+klingon"\n'
    text += 'device = "fujitsu:fi-7160:1"\ntsa_url = "ftp://tsa"\n'
    station_toml.write_text(text, encoding="utf-8")
    problems = check_station_config(station_toml)
    by_key = {p.key: p for p in problems}
    # load_config would stop at the unknown key; the check goes on with the sound settings.
    assert {
        "scaner",
        "broker_port",
        "port",
        "station_id",
        "broker_password_file",
        "ocr_lang",
        "device",
        "tsa_url",
    } <= set(by_key), [p.line() for p in problems]
    assert "unknown setting" in by_key["scaner"].message
    assert "expected an integer, got '1883'" in by_key["broker_port"].message
    assert "0644" in by_key["broker_password_file"].message and "chmod 600" in by_key["broker_password_file"].message
    assert "klingon" in by_key["ocr_lang"].message
    assert "sane_backends" in by_key["device"].message
    assert all(p.text("vi") and p.text("vi") != p.message for p in problems)
    assert "s3cret" not in "".join(p.line() for p in problems), "secrets never printed"


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "station.toml"
    bad.write_text('data_dir = "/x\n')
    [problem] = check_station_config(bad)
    assert "not valid TOML" in problem.message
    [problem] = check_station_config(tmp_path / "nope.toml")
    assert "does not exist" in problem.message and "Không tìm thấy" in problem.text("vi")


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
    path.write_text(
        f'data_dir = "{data}"\ntrust_roots = ["{demo_keys.ca_pem}"]\nbackup_dir = "{tmp_path}/copy"\n'
        f'broker_host = "127.0.0.1"\nport = 70000\n'
    )
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
        return subprocess.run(
            [sys.executable, "-m", "sohoa.cli", "config", "check", *args], capture_output=True, text=True, timeout=60
        )

    ok = run("--station", str(station_toml))
    assert ok.returncode == 0 and "0 error(s)" in ok.stdout, ok.stdout + ok.stderr
    station_toml.write_text(station_toml.read_text() + "port = 0\n", encoding="utf-8")  # duplicate key: bad TOML
    bad = run("--station", str(station_toml))
    assert bad.returncode == 1 and "ERROR" in bad.stdout and "TOML" in bad.stdout


# -- broker_files_dir / broker_pid_file (issue #9: revocation reaches the broker) ------------------------------


def _broker_server_toml(tmp_path: Path, *, render: bool = True, **extra: str) -> tuple[Path, Path]:
    """A server.toml managing the broker's accounts in `tmp_path/broker`, rendered from the real templates."""
    from server.mqtt.broker import BrokerConfig, free_port, write_broker_files

    data = tmp_path / "srv"
    data.mkdir()
    folder = tmp_path / "broker"
    folder.mkdir()
    if render:
        write_broker_files(folder, BrokerConfig(port=free_port(), accounts={"server": "pw"}, server_user="server"))
    settings = {
        "data_dir": str(data),
        "broker_files_dir": str(folder),
        "broker_password_file": str(_secret(tmp_path / "mqtt-server", "pw")),
        **extra,
    }
    path = tmp_path / "server.toml"
    path.write_text("".join(f'{k} = "{v}"\n' for k, v in settings.items() if v), encoding="utf-8")
    return path, folder


def _broker_problems(path: Path, **kwargs: str) -> dict[str, list[str]]:
    keys = ("broker_files_dir", "broker_pid_file", "broker_password_file")
    found: dict[str, list[str]] = {}
    for p in check_server_config(path, **kwargs):
        if p.key in keys:
            assert p.text("vi") and p.text("vi") != p.message
            found.setdefault(p.key, []).append(("WARNING " if p.warning else "ERROR ") + p.message)
    return found


def test_broker_files_with_a_running_broker_then_a_stale_pid_file(tmp_path: Path) -> None:
    from server.mqtt.broker import BrokerProcess

    pid_file = tmp_path / "mosquitto.pid"
    path, folder = _broker_server_toml(tmp_path, broker_pid_file=str(pid_file))
    conf = folder / "mosquitto.conf"
    port = int(next(line.split()[1] for line in conf.read_text().splitlines() if line.startswith("listener ")))
    broker = BrokerProcess(conf, port=port)
    broker.start()
    try:
        pid = broker.pid
        pid_file.write_text(f"{pid}\n")
        assert _broker_problems(path) == {}
    finally:
        broker.stop()
    [stale] = _broker_problems(path)["broker_pid_file"]
    assert stale.startswith("WARNING") and f"PID {pid}, which is not running" in stale
    pid_file.write_text("not a pid\n")
    [garbage] = _broker_problems(path)["broker_pid_file"]
    assert garbage.startswith("WARNING") and "holds no broker PID" in garbage
    pid_file.unlink()
    [missing] = _broker_problems(path)["broker_pid_file"]
    assert missing.startswith("WARNING") and "sohoa-broker-reload.path" in missing


def test_broker_problems_reported_at_once_with_the_others(tmp_path: Path) -> None:
    path, folder = _broker_server_toml(tmp_path, render=False)
    folder.rmdir()
    text = path.read_text() + 'port = 70000\nbackup_dir = "/nonexistent/copy"\nbogus = 1\n'
    path.write_text(text.replace(f'broker_password_file = "{tmp_path}/mqtt-server"\n', ""), encoding="utf-8")
    problems = check_server_config(path)
    errors = {p.key: p.message for p in problems if not p.warning}
    assert {"bogus", "port", "backup_dir", "broker_files_dir", "broker_password_file"} <= set(errors), errors
    assert f"folder {folder} does not exist" in errors["broker_files_dir"]
    assert "install -d -m 2750 -o sohoa -g mosquitto" in errors["broker_files_dir"]
    assert "the server will not start" in errors["broker_password_file"]


def test_pid_file_without_broker_settings_is_an_error(tmp_path: Path) -> None:
    data = tmp_path / "srv"
    data.mkdir()
    path = tmp_path / "server.toml"
    path.write_text(f'data_dir = "{data}"\nbroker_pid_file = "/run/mosquitto/mosquitto.pid"\n', encoding="utf-8")
    problems = [p for p in check_server_config(path) if p.key == "broker_pid_file"]
    assert len(problems) == 1 and not problems[0].warning
    assert "broker_files_dir is not" in problems[0].message


def test_files_dir_not_writable_by_the_service(tmp_path: Path) -> None:
    # Checked for this user, or for the service user ("nobody" here) when run as root.
    path, folder = _broker_server_toml(tmp_path)
    folder.chmod(0o555)
    try:
        [error] = _broker_problems(path, service_user="nobody")["broker_files_dir"]
    finally:
        folder.chmod(0o755)
    assert error.startswith("ERROR") and "is not writable by" in error
    folder.chmod(0o777)
    assert _broker_problems(path, service_user="nobody") == {}
    if os.geteuid() == 0:  # the production layout: the service user writes through the folder's group
        nobody = pwd.getpwnam("nobody")
        os.chown(folder, 0, nobody.pw_gid)
        folder.chmod(0o2750)
        assert "is not writable by nobody" in _broker_problems(path, service_user="nobody")["broker_files_dir"][0]
        folder.chmod(0o2770)
        assert _broker_problems(path, service_user="nobody") == {}


def test_mosquitto_conf_must_read_the_rendered_files(tmp_path: Path) -> None:
    path, folder = _broker_server_toml(tmp_path)
    conf = folder / "mosquitto.conf"
    rendered = conf.read_text()
    conf.write_text(rendered.replace(f"password_file {folder}/passwd", "password_file /etc/mosquitto/passwd"))
    [error] = _broker_problems(path)["broker_files_dir"]
    assert error.startswith("ERROR") and "does not read the rendered passwd" in error
    assert "/etc/mosquitto/passwd" in error
    # Through include_dir, as Debian's own mosquitto.conf does it.
    extra = tmp_path / "conf.d"
    extra.mkdir()
    (extra / "sohoa.conf").write_text(f"password_file {folder}/passwd\nacl_file {folder}/acl\n")
    lines = [line for line in rendered.splitlines() if not line.startswith(("password_file", "acl_file"))]
    conf.write_text("\n".join(lines) + f"\ninclude_dir {extra}\n")
    assert _broker_problems(path) == {}
    (extra / "sohoa.conf").write_text(f"password_file {folder}/passwd\n")
    [error] = _broker_problems(path)["broker_files_dir"]
    assert "does not read the rendered acl: acl_file is none" in error
    conf.unlink()
    [warning] = _broker_problems(path)["broker_files_dir"]
    assert warning.startswith("WARNING") and "sohoa-mosquitto.service will not start" in warning


def test_cli_fails_on_a_missing_broker_files_dir(tmp_path: Path) -> None:
    path, folder = _broker_server_toml(tmp_path, render=False)
    folder.rmdir()
    out = subprocess.run(
        [sys.executable, "-m", "sohoa.cli", "config", "check", "--server", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and f"ERROR broker_files_dir: folder {folder} does not exist" in out.stdout, out.stdout
