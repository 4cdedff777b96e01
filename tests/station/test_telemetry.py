"""Telemetry against a real mosquitto with the project's config: retained state, will, buffering."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from protocol.errors import Message
from protocol.topics import EventPayload, StatePayload, all_stations_filter, station_topic
from server.mqtt.broker import BrokerConfig, BrokerProcess, connect_client, free_port
from station.telemetry import Telemetry
from tests.support.wait import wait_until

ACCOUNTS = {"server": "server-pw", "st-a": "pw-a"}


@pytest.fixture
def broker(tmp_path: Path):
    config = BrokerConfig(port=free_port(), accounts=ACCOUNTS, server_user="server")
    with BrokerProcess.from_config(tmp_path / "broker", config) as process:
        yield process


class Listener:
    """The server account subscribed to every station topic, recording (topic, payload, retained)."""

    def __init__(self, port: int):
        self.messages: list[tuple[str, dict, bool]] = []
        self.lock = threading.Lock()
        self.client, reason = connect_client(host="127.0.0.1", port=port, username="server",
                                             password="server-pw")
        assert reason is not None and not reason.is_failure, reason
        self.client.on_message = self._on_message
        acked = threading.Event()
        self.client.on_subscribe = lambda *args: acked.set()
        self.client.subscribe(all_stations_filter(), qos=1)
        assert acked.wait(5), "no SUBACK"

    def _on_message(self, client, userdata, message) -> None:
        with self.lock:
            self.messages.append((message.topic, json.loads(message.payload), bool(message.retain)))

    def of(self, kind: str) -> list[dict]:
        with self.lock:
            return [p for t, p, _ in self.messages if t.endswith("/" + kind)]

    def wait(self, predicate, timeout: float = 10.0) -> None:
        try:
            wait_until(lambda: predicate(self), timeout, "the listener to see it")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; got {self.messages}") from None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def telemetry(port: int, **kw) -> Telemetry:
    return Telemetry("st-a", host="127.0.0.1", port=port, username="st-a", password="pw-a", **kw)


def test_state_is_retained_and_published_before_anything_else(broker: BrokerProcess):
    tel = telemetry(broker.port)
    tel.set_state(operator="lan", batch="b1", scanner="idle")
    tel.event("info", message="started")  # queued before the connection exists
    tel.start()
    try:
        probe = Listener(broker.port)  # makes sure the state reached the broker before the late subscriber
        probe.wait(lambda r: r.of("state"))
        probe.close()
        listener = Listener(broker.port)  # subscribes late: sees the retained state
        listener.wait(lambda r: r.of("state"))
        topic, state, retained = listener.messages[0]
        assert topic == station_topic("st-a", "state") and retained
        assert state["status"] == "online" and state["operator"] == "lan" and state["at"].endswith("+07:00")
        listener.close()

        live = Listener(broker.port)
        tel.set_state(scanner="scanning")
        live.wait(lambda r: any(s["scanner"] == "scanning" for s in r.of("state")))
        live.close()
    finally:
        tel.stop()


def test_state_goes_first_after_connect(broker: BrokerProcess):
    listener = Listener(broker.port)
    tel = telemetry(broker.port)
    tel.progress(pages_captured=3)
    ids = [tel.event("info", message=str(i)) for i in range(3)]
    tel.start()
    try:
        listener.wait(lambda r: len(r.of("events")) == 3)
        kinds = [t.rsplit("/", 1)[1] for t, _, _ in listener.messages]
        assert kinds[0] == "state"
        assert [e["event_id"] for e in listener.of("events")] == ids
        assert listener.of("progress")[0]["pages_captured"] == 3
    finally:
        tel.stop()
        listener.close()


def test_stop_publishes_offline_retained(broker: BrokerProcess):
    tel = telemetry(broker.port)
    tel.start()
    tel.set_state(operator="lan")
    wait_until(lambda: tel.connected, 10, "telemetry to connect")
    tel.stop()
    late = Listener(broker.port)
    late.wait(lambda r: r.of("state"))
    assert late.of("state")[-1]["status"] == "offline"
    late.close()


def test_killed_station_process_leaves_offline_will(broker: BrokerProcess, tmp_path: Path):
    listener = Listener(broker.port)
    script = textwrap.dedent(f"""
        import time
        from station.telemetry import Telemetry
        tel = Telemetry("st-a", host="127.0.0.1", port={broker.port}, username="st-a", password="pw-a")
        tel.set_state(operator="lan", batch="b1", scanner="scanning")
        tel.start()
        time.sleep(60)  # alive until the test kills it
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    try:
        listener.wait(lambda r: any(s["status"] == "online" for s in r.of("state")), 15)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        listener.wait(lambda r: r.of("state")[-1]["status"] == "offline", 15)
        will = StatePayload.from_dict(listener.of("state")[-1])
        assert will.operator == "lan" and will.batch == "b1"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        listener.close()
    late = Listener(broker.port)  # and it is retained for whoever subscribes later
    late.wait(lambda r: r.of("state"))
    assert late.of("state")[-1]["status"] == "offline"
    late.close()


def test_buffers_while_broker_down_and_drains_after_restart(broker: BrokerProcess):
    tel = telemetry(broker.port, buffer_size=5)
    tel.start()
    wait_until(lambda: tel.connected, 10, "telemetry to connect")
    broker.stop()
    wait_until(lambda: not tel.connected, 10, "telemetry to notice the broker is gone")

    started = time.perf_counter()
    ids = [tel.event("fault", code="JAMMED", n=i) for i in range(8)]
    tel.progress(pages_captured=40)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.05, f"publishing while the broker is down took {elapsed:.3f} s"
    assert tel.dropped_events == 3 and tel.buffered == 6  # 5 events + latest progress

    broker.start()
    listener = Listener(broker.port)
    try:
        listener.wait(lambda r: any(e["event"] == "telemetry_gap" for e in r.of("events")), 30)
        events = listener.of("events")
        assert [e["event_id"] for e in events if e["event"] == "fault"] == ids[3:]  # oldest dropped
        assert [e["data"]["n"] for e in events if e["event"] == "fault"] == [3, 4, 5, 6, 7]
        gap = next(e for e in events if e["event"] == "telemetry_gap")
        assert gap["data"]["dropped"] == 3 and "Mất 3 sự kiện" in Message.from_dict(gap).text("vi")
        assert listener.of("progress")[-1]["pages_captured"] == 40
        assert tel.buffered == 0
        EventPayload.from_dict(events[0])  # what arrives validates
    finally:
        tel.stop()
        listener.close()


def test_heartbeat_republishes_state_of_an_idle_station(broker: BrokerProcess):
    listener = Listener(broker.port)
    tel = telemetry(broker.port, heartbeat=0.3)
    tel.start()
    try:
        listener.wait(lambda r: len(r.of("state")) >= 3, 5)
        stamps = [s["at"] for s in listener.of("state")]
        assert len(set(stamps)) == len(stamps)  # each beat carries a fresh time
    finally:
        tel.stop()
        listener.close()
