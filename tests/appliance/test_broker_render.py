"""`sohoa server broker-config`: the production broker rendered from server.toml and the records database,
then a real mosquitto started on it (issue #9: nothing rendered mosquitto.conf, persistence was read-only)."""

from __future__ import annotations

import getpass
import json
import stat
import subprocess
import sys
from pathlib import Path

from server.mqtt.broker import BrokerProcess, connect_client, free_port


def _sohoa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sohoa", *args], capture_output=True, text=True, timeout=60)


def _connects(port: int, user: str, password: str) -> bool:
    client, reason = connect_client(host="127.0.0.1", port=port, username=user, password=password)
    client.loop_stop()
    client.disconnect()
    return reason is not None and not reason.is_failure


def test_broker_config_renders_a_broker_that_knows_the_enrolled_stations(tmp_path: Path) -> None:
    folder, secrets, persist = tmp_path / "mosquitto", tmp_path / "secrets", tmp_path / "var-lib-sohoa-mosquitto"
    folder.mkdir()
    secrets.mkdir(mode=0o700)
    persist.mkdir()
    toml = tmp_path / "server.toml"
    toml.write_text(
        f'data_dir = "{tmp_path / "server"}"\n'
        f'broker_files_dir = "{folder}"\nbroker_password_file = "{secrets / "mqtt-server"}"\n',
        encoding="utf-8",
    )
    added = _sohoa("server", "--config", str(toml), "add-station", "st-one")
    assert added.returncode == 0, added.stderr
    station_pw = json.loads(added.stdout)["mqtt_password"]
    gone = _sohoa("server", "--config", str(toml), "add-station", "st-gone")
    gone_pw = json.loads(gone.stdout)["mqtt_password"]
    assert _sohoa("server", "--config", str(toml), "revoke-station", "st-gone").returncode == 0

    port = free_port()
    render = [
        "server", "--config", str(toml), "broker-config", "--data-dir", str(persist),
        "--listen-port", str(port), "--bind", "127.0.0.1", "--run-user", getpass.getuser(),
    ]  # fmt: skip
    out = _sohoa(*render)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["stations"] == ["st-one"]
    conf = folder / "mosquitto.conf"
    text = conf.read_text()
    # Persistence where the unit may write (ReadWritePaths), not in the read-only config folder.
    assert f"persistence_location {persist}/" in text and not (folder / "data").exists()
    assert f"password_file {folder / 'passwd'}" in text and f"listener {port} 127.0.0.1" in text
    for name in ("mosquitto.conf", "passwd", "acl"):  # mosquitto reads them through the folder's group
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o640, name
    server_pw_file = secrets / "mqtt-server"
    assert stat.S_IMODE(server_pw_file.stat().st_mode) == 0o600
    server_pw = server_pw_file.read_text().strip()
    assert len(server_pw) >= 24

    # Idempotent: the server's password is kept, the conf is the same.
    again = _sohoa(*render)
    assert again.returncode == 0, again.stderr
    assert server_pw_file.read_text().strip() == server_pw and conf.read_text() == text

    with BrokerProcess(conf, port=port, log_path=tmp_path / "mosquitto.log") as broker:
        assert _connects(port, "st-one", station_pw), broker.log_tail()
        assert _connects(port, "server", server_pw), broker.log_tail()
        assert not _connects(port, "st-one", "wrong-password")
        assert not _connects(port, "st-gone", gone_pw), "a revoked station was let in"
    assert (persist / "mosquitto.db").exists(), "mosquitto saved no persistence on stop"


def test_broker_config_refuses_an_empty_server_password(tmp_path: Path) -> None:
    (tmp_path / "mqtt-server").write_text("\n")
    toml = tmp_path / "server.toml"
    toml.write_text(f'data_dir = "{tmp_path / "server"}"\n', encoding="utf-8")
    out = _sohoa(
        "server", "--config", str(toml), "broker-config", "--folder", str(tmp_path / "m"),
        "--password-file", str(tmp_path / "mqtt-server"), "--data-dir", str(tmp_path / "d"),
    )  # fmt: skip
    assert out.returncode != 0 and "is empty" in out.stderr
    assert not (tmp_path / "m" / "mosquitto.conf").exists()
