"""MQTT over TLS in production: `sohoa server broker-config --tls-cert/--tls-key` renders a TLS-only listener,
and a station with `broker_tls_ca` publishes through it (its password never crosses the LAN in clear)."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
import threading
from pathlib import Path

from protocol.topics import all_stations_filter
from server.mqtt.broker import BrokerProcess, connect_client, free_port
from sohoa.appliance.tls import make_ca, make_server_cert
from tests.support.wait import wait_until


def _sohoa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sohoa", *args], capture_output=True, text=True, timeout=60)


def test_station_publishes_over_a_tls_only_broker(tmp_path: Path, sane_test_device: str) -> None:
    from station.config import StationConfig
    from station.service import Station

    ca = make_ca(tmp_path / "tls", name="sohoa test CA")
    pair = make_server_cert(ca, tmp_path / "tls", hostnames=["localhost"], ips=["127.0.0.1"])
    folder, persist = tmp_path / "mosquitto", tmp_path / "persist"
    folder.mkdir()
    persist.mkdir()
    toml = tmp_path / "server.toml"
    toml.write_text(f'data_dir = "{tmp_path / "server"}"\nbroker_files_dir = "{folder}"\n'
                    f'broker_password_file = "{tmp_path / "mqtt-server"}"\n', encoding="utf-8")
    added = _sohoa("server", "--config", str(toml), "add-station", "st-tls")
    assert added.returncode == 0, added.stderr
    (tmp_path / "st-pw").write_text(json.loads(added.stdout)["mqtt_password"])

    port = free_port()
    half = _sohoa("server", "--config", str(toml), "broker-config", "--tls-cert", str(pair.cert))
    assert half.returncode != 0 and "go together" in half.stderr
    out = _sohoa("server", "--config", str(toml), "broker-config", "--data-dir", str(persist),
                 "--listen-port", str(port), "--bind", "127.0.0.1", "--run-user", getpass.getuser(),
                 "--tls-cert", str(pair.cert), "--tls-key", str(pair.key))
    assert out.returncode == 0, out.stderr
    assert f"certfile {pair.cert}" in (folder / "mosquitto.conf").read_text()

    server_pw = (tmp_path / "mqtt-server").read_text().strip()
    seen: list[str] = []
    with BrokerProcess(folder / "mosquitto.conf", port=port, log_path=tmp_path / "mosquitto.log") as broker:
        listener, reason = connect_client(host="127.0.0.1", port=port, username="server", password=server_pw,
                                          tls_ca=str(ca.cert))
        assert reason is not None and not reason.is_failure, broker.log_tail()  # the listener answers (control)
        # Plain MQTT on the TLS listener gets no CONNACK: nothing in clear.
        _, plain = connect_client(host="127.0.0.1", port=port, username="st-tls", password="x", timeout=1.0)
        assert plain is None
        got = threading.Event()
        listener.on_message = lambda c, u, m: (seen.append(m.topic), got.set())
        listener.subscribe(all_stations_filter(), qos=1)
        config = StationConfig(data_dir=tmp_path / "station", device=sane_test_device, workers=1,
                               station_id="st-tls", broker_host="127.0.0.1", broker_port=port,
                               broker_password_file=tmp_path / "st-pw", broker_tls_ca=ca.cert)
        station = Station(config)
        station.start()
        try:
            assert got.wait(20), f"no message from the station over TLS; {broker.log_tail()}"
            wait_until(lambda: station.telemetry.connected, 5, "the station's telemetry to connect")
        finally:
            station.stop()
            listener.disconnect()
            listener.loop_stop()
    assert any(t.startswith("sohoa/v1/station/st-tls/") for t in seen), seen
