"""Production wiring of the broker accounts in `serve()`: a real server process, a real mosquitto.

The server renders mosquitto's passwd/acl into `broker_files_dir` at start and on every enrol/revoke, then
SIGHUPs the PID in `broker_pid_file`; a station revoked on the dashboard is refused by the broker at once.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from server.accounts.auth import create_user
from server.mqtt.broker import BrokerConfig, BrokerProcess, connect_client, free_port
from tests.support.wait import wait_until
from tests.support.web import ADMIN, csrf_from, web_login


def _login_ok(broker: BrokerProcess, user: str, password: str) -> bool:
    client, reason = connect_client(host="127.0.0.1", port=broker.port, username=user, password=password)
    ok = reason is not None and not reason.is_failure
    if ok:
        client.disconnect()
        client.loop_stop()
    return ok


def _wait_login(broker: BrokerProcess, user: str, password: str, *, want: bool, timeout: float) -> float:
    """Seconds until the broker's answer for this login is `want`; fails after `timeout`."""
    started = time.monotonic()
    try:
        wait_until(lambda: _login_ok(broker, user, password) == want, timeout, f"{user}: login ok={want}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {broker.log_tail()}") from None
    return time.monotonic() - started


def test_revoked_station_is_refused_by_the_broker_of_a_running_server(server_process, tmp_path: Path):
    folder = tmp_path / "broker"
    base = BrokerConfig(port=free_port(), accounts={"server": "server-pw"}, server_user="server")
    kept = server_process.add_station("tram-10")
    revoked = server_process.add_station("tram-09")
    create_user(server_process.data_dir / "server.db", *ADMIN, role="admin")
    (tmp_path / "server-mqtt.pw").write_text("server-pw\n")
    with BrokerProcess.from_config(folder, base) as broker:
        pid_file = tmp_path / "mosquitto.pid"
        pid_file.write_text(f"{broker.pid}\n")
        assert not _login_ok(broker, "tram-09", revoked["mqtt_password"]), "the broker starts with no station"
        with open(server_process.config, "a", encoding="utf-8") as cfg:
            cfg.write(
                f'broker_files_dir = "{folder}"\nbroker_pid_file = "{pid_file}"\n'
                f'broker_password_file = "{tmp_path / "server-mqtt.pw"}"\nbroker_user = "server"\n'
            )
        server_process.start()
        # serve() renders the live stations at start and reloads the broker.
        _wait_login(broker, "tram-09", revoked["mqtt_password"], want=True, timeout=5)
        assert stat.S_IMODE((folder / "passwd").stat().st_mode) == 0o640  # the broker's group reads it
        assert "server-pw" not in (folder / "passwd").read_text(), "passwords are stored hashed"

        live, reason = connect_client(
            host="127.0.0.1", port=broker.port, username="tram-09", password=revoked["mqtt_password"]
        )
        assert not reason.is_failure
        dropped = threading.Event()
        live.on_disconnect = lambda *a: dropped.set()
        admin = web_login(server_process.url, *ADMIN)
        page = admin.get(server_process.url + "/stations", timeout=10)
        answer = admin.post(
            server_process.url + "/stations/tram-09/revoke",
            allow_redirects=False,
            timeout=10,
            data={"csrf_token": csrf_from(page.text)},
        )
        assert answer.status_code == 302, answer.text[:500]
        took = _wait_login(broker, "tram-09", revoked["mqtt_password"], want=False, timeout=1.0)
        assert dropped.wait(1.0), f"the revoked station stayed connected: {broker.log_tail()}"
        live.loop_stop()
        assert took < 1.0
        assert _login_ok(broker, "tram-10", kept["mqtt_password"]), "the other station must keep its account"

        # Revoked with the CLI while the server is down: refused as soon as the server is back.
        server_process.stop()
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "sohoa.cli",
                "server",
                "--config",
                str(server_process.config),
                "revoke-station",
                "tram-10",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        server_process.start()
        _wait_login(broker, "tram-10", kept["mqtt_password"], want=False, timeout=5)


def test_broker_files_without_the_server_password_is_a_clear_error(tmp_path: Path):
    import pytest

    from server.config import ServerConfig
    from server.mqtt.broker import BrokerError, accounts_sync_for

    config = ServerConfig(data_dir=tmp_path, broker_files_dir=tmp_path / "broker")
    with pytest.raises(BrokerError, match="broker_password_file"):
        accounts_sync_for(config)
    assert accounts_sync_for(ServerConfig(data_dir=tmp_path)) is None
