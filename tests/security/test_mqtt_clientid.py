"""#14.5: a station cannot take over another station's MQTT client id (real mosquitto, project config)."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.topics import station_topic
from server.mqtt.broker import BrokerConfig, BrokerProcess, free_port
from tests.support.wait import wait_until

ACCOUNTS = {"server": "server-pw", "st-a": "pw-a", "st-b": "pw-b"}


class Client:
    def __init__(self, port: int, user: str, client_id: str):
        self.connected = threading.Event()
        self.disconnects = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, reconnect_on_failure=False)
        self.client.username_pw_set(user, ACCOUNTS[user])
        self.client.on_connect = lambda c, u, f, reason, p: (not reason.is_failure) and self.connected.set()
        self.client.on_disconnect = self._gone
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(5), f"{user} did not connect"

    def _gone(self, *args) -> None:
        self.disconnects += 1
        self.connected.clear()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_station_cannot_kick_another_by_its_client_id(tmp_path):
    config = BrokerConfig(port=free_port(), accounts=ACCOUNTS, server_user="server")
    with BrokerProcess.from_config(tmp_path / "broker", config) as broker:
        victim = Client(broker.port, "st-a", "sohoa-station-st-a")
        thief = Client(broker.port, "st-b", "sohoa-station-st-a")  # st-b claims st-a's client id
        again = None
        try:
            assert thief.connected.is_set()
            # The broker kicks an old connection while it handles the new CONNECT, before its CONNACK: a
            # round trip on st-a's connection after st-b's CONNACK shows st-a is still on.
            sent = victim.client.publish(station_topic("st-a", "state"), b"{}", qos=1)
            sent.wait_for_publish(5)
            assert sent.is_published() and victim.disconnects == 0, "st-a was kicked off by st-b"
            # Positive control: a second connection of st-a itself does take the first one over.
            again = Client(broker.port, "st-a", "sohoa-station-st-a")
            wait_until(lambda: victim.disconnects == 1, 5, "st-a's second connection to replace its first")
        finally:
            for client in (victim, thief, again):
                if client is not None:
                    client.close()


def test_option_is_on_the_listener_not_before_it(tmp_path):
    from server.mqtt.broker import write_broker_files

    conf = write_broker_files(tmp_path / "b", BrokerConfig(port=free_port(), accounts=ACCOUNTS,
                                                           server_user="server")).read_text()
    lines = [line.split()[0] for line in conf.splitlines() if line.strip() and not line.startswith("#")]
    assert lines.count("listener") == 1
    assert lines.index("use_username_as_clientid") > lines.index("listener")
