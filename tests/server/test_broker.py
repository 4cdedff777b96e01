"""The project's mosquitto config, run for real: authentication, ACL, bind address, TLS."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from protocol.topics import ReceiptPayload, all_stations_filter, server_topic, station_topic
from server.mqtt.broker import (
    BrokerConfig,
    BrokerError,
    BrokerProcess,
    TlsConfig,
    connect_client,
    free_port,
    hash_password,
    write_broker_files,
)
from tests.support.wait import wait_until

ACCOUNTS = {"server": "server-pw", "st-a": "pw-a", "st-b": "pw-b"}


@pytest.fixture
def broker(tmp_path: Path):
    config = BrokerConfig(port=free_port(), accounts=ACCOUNTS, server_user="server")
    with BrokerProcess.from_config(tmp_path / "broker", config) as process:
        yield process


class Recorder:
    def __init__(self, port: int, user: str, topic_filter: str):
        self.got: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client, reason = connect_client(host="127.0.0.1", port=port, username=user,
                                             password=ACCOUNTS[user])
        assert reason is not None and not reason.is_failure, reason
        self.client.on_message = self._on_message
        self.subscribe(topic_filter)

    def subscribe(self, topic_filter: str) -> None:
        """Subscribe and wait for the broker's SUBACK (a refused filter is acknowledged too, and gets nothing)."""
        acked = threading.Event()
        self.client.on_subscribe = lambda *args: acked.set()
        self.client.subscribe(topic_filter, qos=1)
        assert acked.wait(5), f"no SUBACK for {topic_filter}"

    def _on_message(self, client, userdata, message) -> None:
        with self.lock:
            self.got.append((message.topic, bytes(message.payload)))

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.got]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connected(port: int, user: str):
    client, reason = connect_client(host="127.0.0.1", port=port, username=user, password=ACCOUNTS[user])
    assert reason is not None and not reason.is_failure, reason
    return client


def wait_for(predicate, timeout: float = 5.0) -> None:
    wait_until(predicate, timeout, "the broker to deliver")


def test_anonymous_client_is_refused(broker: BrokerProcess):
    client, reason = connect_client(host="127.0.0.1", port=broker.port)
    assert reason is not None, "the broker did not answer"
    assert reason.is_failure and reason.getName() == "Not authorized"


def test_wrong_password_and_unknown_user_are_refused(broker: BrokerProcess):
    for user, password in (("st-a", "pw-b"), ("st-a", ""), ("nobody", "pw-a")):
        _, reason = connect_client(host="127.0.0.1", port=broker.port, username=user, password=password)
        assert reason is not None and reason.is_failure, (user, password)
    _, reason = connect_client(host="127.0.0.1", port=broker.port, username="st-a", password="pw-a")
    assert reason is not None and not reason.is_failure


def test_station_cannot_publish_under_another_station(broker: BrokerProcess):
    server = Recorder(broker.port, "server", all_stations_filter())
    a = connected(broker.port, "st-a")
    try:
        a.publish(station_topic("st-b", "state"), b'{"forged": true}', qos=1).wait_for_publish(5)
        a.publish(station_topic("st-b", "events"), b'{"forged": true}', qos=1).wait_for_publish(5)
        a.publish(station_topic("st-a", "state"), b'{"own": true}', qos=1).wait_for_publish(5)
        # The same probe sees a message of st-a; the forged ones, acknowledged before it by the broker, would
        # have been routed to this subscriber before it.
        wait_for(lambda: station_topic("st-a", "state") in server.topics())
        assert server.topics() == [station_topic("st-a", "state")]
    finally:
        a.disconnect()
        a.loop_stop()
        server.close()


def test_station_cannot_forge_server_notices_or_read_other_inboxes(broker: BrokerProcess):
    b_inbox = Recorder(broker.port, "st-b", server_topic("receipts", "st-b"))
    a_snoop = Recorder(broker.port, "st-a", server_topic("receipts", "st-b"))
    a = a_snoop.client  # one connection per station: a second one under the same username would replace it
    server = connected(broker.port, "server")
    try:
        forged = ReceiptPayload(station_id="st-b", package_id="p1", verdict="accepted").to_json()
        a.publish(server_topic("receipts", "st-b"), forged, qos=1).wait_for_publish(5)
        real = ReceiptPayload(station_id="st-b", package_id="p2", verdict="rejected", reasons=["hash"])
        server.publish(server_topic("receipts", "st-b"), real.to_json(), qos=1).wait_for_publish(5)
        wait_for(lambda: b_inbox.got)  # the forged one was acknowledged before the real one: it would be first
        assert [p for _, p in b_inbox.got] == [real.to_json().encode()]
        # Positive control for the snoop: its own inbox, published after the real receipt, reaches it; the
        # receipt for st-b would have been routed to it before.
        a_snoop.subscribe(server_topic("receipts", "st-a"))
        server.publish(server_topic("receipts", "st-a"), b"{}", qos=1).wait_for_publish(5)
        wait_for(lambda: a_snoop.got)
        assert a_snoop.topics() == [server_topic("receipts", "st-a")]
    finally:
        server.disconnect()
        server.loop_stop()
        b_inbox.close()
        a_snoop.close()


def test_station_cannot_read_other_stations_telemetry(broker: BrokerProcess):
    snoop = Recorder(broker.port, "st-a", all_stations_filter())
    snoop.subscribe(server_topic("receipts", "st-a"))  # its own inbox: the positive control
    b = connected(broker.port, "st-b")
    server = connected(broker.port, "server")
    try:
        b.publish(station_topic("st-b", "progress"), b"{}", qos=1).wait_for_publish(5)
        # Published after b's message was acknowledged: had b's been routed to the snoop, it came first.
        server.publish(server_topic("receipts", "st-a"), b"{}", qos=1).wait_for_publish(5)
        wait_for(lambda: snoop.got)
        assert snoop.topics() == [server_topic("receipts", "st-a")]
    finally:
        for client in (b, server):
            client.disconnect()
            client.loop_stop()
        snoop.close()


def test_rendered_files(tmp_path: Path):
    config = BrokerConfig(port=18830, accounts=ACCOUNTS, server_user="server", bind="10.0.0.5")
    conf = write_broker_files(tmp_path, config)
    text = conf.read_text()
    assert "listener 18830 10.0.0.5" in text
    assert "allow_anonymous false" in text
    active = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert not [line for line in active if "websockets" in line]
    assert [line for line in active if line.startswith("listener")] == ["listener 18830 10.0.0.5"]
    assert f"persistence_location {tmp_path.resolve() / 'data'}/" in text
    passwd = (tmp_path / "passwd").read_text()
    assert "pw-a" not in passwd and passwd.count("$7$101$") == 3
    assert (tmp_path / "passwd").stat().st_mode & 0o077 == 0
    acl = (tmp_path / "acl").read_text()
    assert "pattern readwrite sohoa/v1/station/%u/#" in acl
    assert "pattern read sohoa/v1/server/+/%u" in acl


def test_python_hash_matches_mosquitto_passwd_format(tmp_path: Path):
    # mosquitto_passwd's own output has the same shape: $7$<iterations>$<12-byte salt>$<64-byte digest>
    path = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "u", "secret"], check=True)
    theirs = path.read_text().strip().split(":", 1)[1].split("$")
    ours = hash_password("secret").split("$")
    assert [len(x) for x in theirs] == [len(x) for x in ours] and theirs[:3] == ours[:3]


def test_bad_configs_are_refused():
    with pytest.raises(BrokerError):
        BrokerConfig(port=1883, accounts={"st-a": "x"}, server_user="server")
    for name in ("st/a", "st+a", "#", "St-A", "a" * 33):
        with pytest.raises(BrokerError):
            BrokerConfig(port=1883, accounts={"server": "x", name: "y"}, server_user="server")


def test_listener_bound_to_the_configured_address_only(tmp_path: Path):
    port = free_port("127.0.0.2")
    config = BrokerConfig(port=port, accounts=ACCOUNTS, server_user="server", bind="127.0.0.2")
    with BrokerProcess.from_config(tmp_path, config):
        with socket.create_connection(("127.0.0.2", port), timeout=2):
            pass
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sohoa-broker")])
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - day).not_valid_after(now + day)
        .add_extension(san, False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "broker.crt", folder / "broker.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_listener(tmp_path: Path):
    cert, key = _self_signed(tmp_path)
    config = BrokerConfig(port=free_port(), accounts=ACCOUNTS, server_user="server",
                          tls=TlsConfig(certfile=cert, keyfile=key))
    with BrokerProcess.from_config(tmp_path / "broker", config) as broker:
        client, reason = connect_client(host="127.0.0.1", port=broker.port, username="st-a",
                                        password="pw-a", tls_ca=str(cert))
        assert reason is not None and not reason.is_failure, broker.log_tail()
        client.disconnect()
        client.loop_stop()
        # plain MQTT on the TLS port gets no CONNACK
        _, reason = connect_client(host="127.0.0.1", port=broker.port, username="st-a", password="pw-a",
                                   timeout=1.0)
        assert reason is None
