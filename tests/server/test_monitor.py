"""Monitor against a real mosquitto (project config) and real Telemetry publishers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlite_utils

from protocol.errors import Message, say
from protocol.i18n import N_
from protocol.topics import EventPayload, ProgressPayload, StatePayload, WorkOrderPayload, station_topic
from server.monitoring.monitor import Monitor
from server.mqtt.broker import BrokerConfig, BrokerProcess, connect_client, free_port
from station.telemetry import Telemetry
from tests.support.wait import wait_until

ACCOUNTS = {"server": "server-pw", "st-a": "pw-a", "st-b": "pw-b"}


@pytest.fixture
def broker(tmp_path: Path):
    config = BrokerConfig(port=free_port(), accounts=ACCOUNTS, server_user="server")
    with BrokerProcess.from_config(tmp_path / "broker", config) as process:
        yield process


@pytest.fixture
def monitor(broker: BrokerProcess, tmp_path: Path):
    mon = Monitor(host="127.0.0.1", port=broker.port, username="server", password="server-pw",
                  db_path=tmp_path / "catalog.db", stall_after=1.0, tick=0.1)
    mon.start()
    mon.wait_until(lambda s: s["broker_connected"], 10)
    yield mon
    mon.stop()


def station(broker: BrokerProcess, sid: str = "st-a", **kw) -> Telemetry:
    tel = Telemetry(sid, host="127.0.0.1", port=broker.port, username=sid, password=ACCOUNTS[sid], **kw)
    tel.start()
    return tel


def wait(predicate, timeout: float = 10.0) -> None:
    wait_until(predicate, timeout, "the monitor or station to see it")


def test_snapshot_shows_station_online_with_operator_and_batch(monitor: Monitor, broker: BrokerProcess):
    tel = station(broker)
    try:
        tel.set_state(operator="nguyen.van.a", batch="b-001", batch_state="OPEN", fonds="G09",
                      file_code="G09.01.2020.001", scanner="scanning")
        snap = monitor.wait_until(
            lambda s: s["stations"].get("st-a", {}).get("operator") == "nguyen.van.a", 10
        )
        tile = snap["stations"]["st-a"]
        assert tile["status"] == "online"
        assert tile["batch"] == "b-001"
        assert tile["scanner"] == "scanning"
        assert tile["file_code"] == "G09.01.2020.001"
        assert tile["last_seen"].endswith("+07:00")
    finally:
        tel.stop()
    snap = monitor.wait_until(lambda s: s["stations"]["st-a"]["status"] == "offline", 10)
    assert snap["stations"]["st-a"]["operator"] == "nguyen.van.a"  # kept for the tile


def test_pages_per_minute_and_throughput_per_station_operator_fonds_day(
    monitor: Monitor, broker: BrokerProcess
):
    a, b = station(broker, "st-a"), station(broker, "st-b")
    try:
        a.set_state(operator="lan", batch="a1", fonds="G09")
        b.set_state(operator="minh", batch="b1", fonds="G10")
        for captured in (0, 10, 10, 30):  # the repeated 10 adds nothing
            a.progress(pages_captured=captured)
        b.progress(pages_captured=12)
        snap = monitor.wait_until(
            lambda s: s["stations"].get("st-a", {}).get("pages_captured") == 30
            and s["stations"].get("st-b", {}).get("pages_captured") == 12, 10
        )
        assert snap["stations"]["st-a"]["pages_per_minute"] == pytest.approx(30.0)
        assert snap["stations"]["st-b"]["pages_per_minute"] == pytest.approx(12.0)

        by_station = {r["station"]: r["pages"] for r in monitor.throughput(by="station", bucket="day")}
        assert by_station == {"st-a": 30, "st-b": 12}
        by_operator = {r["operator"]: r["pages"] for r in monitor.throughput(by="operator", bucket="day")}
        assert by_operator == {"lan": 30, "minh": 12}
        by_fonds = {r["fonds"]: r["pages"] for r in monitor.throughput(by="fonds", bucket="minute")}
        assert by_fonds == {"G09": 30, "G10": 12}
        total = monitor.throughput(by="total", bucket="day")
        assert len(total) == 1 and total[0]["pages"] == 42 and len(total[0]["day"]) == 10

        # A new batch starts its counter again; the monitor keeps adding.
        a.set_state(batch="a2")
        a.progress(pages_captured=5)
        monitor.wait_until(lambda s: s["stations"]["st-a"]["pages_captured"] == 5, 10)
        by_station = {r["station"]: r["pages"] for r in monitor.throughput(by="station", bucket="day")}
        assert by_station["st-a"] == 35
    finally:
        a.stop()
        b.stop()


def test_progress_is_bucketed_by_the_stations_minute(monitor: Monitor, broker: BrokerProcess):
    client, reason = connect_client(host="127.0.0.1", port=broker.port, username="st-a", password="pw-a")
    assert reason is not None and not reason.is_failure
    topic = station_topic("st-a", "progress")
    for at, captured in (("2026-06-12T09:00:10.000+07:00", 4), ("2026-06-12T09:00:50.000+07:00", 9),
                         ("2026-06-12T09:01:20.000+07:00", 20)):
        payload = ProgressPayload(station_id="st-a", at=at, batch="x", operator="lan",
                                  pages_captured=captured)
        client.publish(topic, payload.to_json(), qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    monitor.wait_until(lambda s: s["stations"].get("st-a", {}).get("pages_captured") == 20, 10)
    rows = monitor.throughput(by="station", bucket="minute", since="2026-06-12T09:00")
    assert rows == [
        {"minute": "2026-06-12T09:00", "station": "st-a", "pages": 9},
        {"minute": "2026-06-12T09:01", "station": "st-a", "pages": 11},
    ]
    # The time series lives in the database given to the monitor.
    db = sqlite_utils.Database(monitor.db_path)
    assert db["throughput"].count == 2


def test_repeated_event_id_is_stored_and_announced_once(monitor: Monitor, broker: BrokerProcess):
    changes: list[dict] = []
    monitor.subscribe_changes(changes.append)
    client, reason = connect_client(host="127.0.0.1", port=broker.port, username="st-a", password="pw-a")
    assert reason is not None and not reason.is_failure
    fault = EventPayload(station_id="st-a", event="fault", code="JAMMED",
                         **say(N_("Paper jam in the document feeder. Open the cover, take out the jammed sheet, put it "
                                  "back on the tray and press Continue scanning.")).as_dict())
    other = EventPayload(station_id="st-a", event="qc_flag", code="blank_page")
    for payload in (fault, fault, other, fault):
        client.publish(station_topic("st-a", "events"), payload.to_json(), qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    wait(lambda: monitor.messages >= 4)
    monitor.wait_until(lambda s: s["stations"].get("st-a", {}).get("last_fault") is not None, 10)
    stored = monitor.recent_events(station_id="st-a")
    assert sorted(e["event_id"] for e in stored) == sorted([fault.event_id, other.event_id])
    assert monitor.duplicates == 2
    announced = [c["event"]["event_id"] for c in changes if c["type"] == "event"]
    assert sorted(announced) == sorted([fault.event_id, other.event_id])
    last_fault = monitor.station("st-a")["last_fault"]
    assert last_fault["code"] == "JAMMED" and Message.from_dict(last_fault).text("vi").startswith(
        "Kẹt giấy trong khay nạp")


def test_station_with_open_batch_and_no_progress_is_stalled(monitor: Monitor, broker: BrokerProcess):
    tel = station(broker)
    try:
        tel.set_state(operator="lan", batch="b-9", batch_state="OPEN", scanner="idle")
        monitor.wait_until(lambda s: s["stations"].get("st-a", {}).get("batch") == "b-9", 10)
        assert monitor.station("st-a")["stalled"] is False
        monitor.wait_until(lambda s: s["stations"]["st-a"]["stalled"], 5)  # stall_after = 1 s
        tel.progress(pages_captured=3)
        monitor.wait_until(lambda s: not s["stations"]["st-a"]["stalled"], 5)
        tel.set_state(batch=None, batch_state=None)  # no open batch: idle is not stalled
        monitor.wait_until(lambda s: s["stations"]["st-a"].get("batch") is None, 5)
        time.sleep(1.5)  # the clock passing stall_after (1 s) is the point: stalled above, not now
        assert monitor.station("st-a")["stalled"] is False
    finally:
        tel.stop()


def test_killed_connection_marks_station_offline(monitor: Monitor, broker: BrokerProcess):
    tel = station(broker, keepalive=5)
    tel.set_state(operator="lan")
    monitor.wait_until(lambda s: s["stations"].get("st-a", {}).get("status") == "online", 10)
    # Cut the TCP connection without DISCONNECT: the broker publishes the last will.
    tel._client.loop_stop()
    tel._client.socket().close()
    snap = monitor.wait_until(lambda s: s["stations"]["st-a"]["status"] == "offline", 15)
    assert snap["stations"]["st-a"]["operator"] == "lan"


def test_monitor_publishes_work_order_notice_to_its_station(monitor: Monitor, broker: BrokerProcess):
    got = []
    tel = station(broker, on_command=lambda ref, payload: got.append((ref.kind, payload)))
    try:
        wait(lambda: tel.connected)
        notice = WorkOrderPayload(station_id="st-a", work_order_id="wo-17", action="assigned",
                                  file_code="G09.01.2020.001")

        def delivered() -> list:  # sent again until the station's subscription, made on connect, is in place
            monitor.publish(notice).wait_for_publish(5)
            return got

        wait_until(delivered, 10, "the notice to reach the station", interval=0.3)
        assert got and all(g == ("workorders", notice) for g in got)  # the same notice, however often sent
    finally:
        tel.stop()


def test_mute_station_is_marked_offline_and_back_online_when_heard(broker: BrokerProcess, tmp_path: Path):
    mon = Monitor(host="127.0.0.1", port=broker.port, username="server", password="server-pw",
                  db_path=tmp_path / "mute.db", silent_after=1.0, tick=0.1)
    mon.start()
    # A client that says "online" then stays connected without a word: no will will ever come.
    client, reason = connect_client(host="127.0.0.1", port=broker.port, username="st-b", password="pw-b")
    assert reason is not None and not reason.is_failure
    try:
        online = StatePayload(station_id="st-b", status="online", operator="minh")
        client.publish(station_topic("st-b", "state"), online.to_json(), qos=1, retain=True)
        mon.wait_until(lambda s: s["stations"].get("st-b", {}).get("status") == "online", 10)
        snap = mon.wait_until(lambda s: s["stations"]["st-b"]["status"] == "offline", 5)
        assert snap["stations"]["st-b"]["silent"] is True
        client.publish(station_topic("st-b", "progress"), ProgressPayload(station_id="st-b").to_json())
        snap = mon.wait_until(lambda s: s["stations"]["st-b"]["status"] == "online", 5)
        assert snap["stations"]["st-b"]["silent"] is False
    finally:
        client.disconnect()
        client.loop_stop()
        mon.stop()


def test_restarted_monitor_counts_no_page_twice(broker: BrokerProcess, tmp_path: Path):
    db_path = tmp_path / "restart.db"
    tel = station(broker)
    try:
        tel.set_state(operator="lan", batch="r1", fonds="G09")
        for captured in (10, 15):
            mon = Monitor(host="127.0.0.1", port=broker.port, username="server", password="server-pw",
                          db_path=db_path)
            mon.start()
            # st-a's retained state arrived: the monitor's subscription is in place before the progress
            mon.wait_until(lambda s: s["broker_connected"] and "st-a" in s["stations"], 10)
            tel.progress(pages_captured=captured)
            mon.wait_until(lambda s, c=captured: s["stations"]["st-a"]["pages_captured"] == c, 10)
            total = mon.throughput(by="total", bucket="day")
            mon.stop()
        assert total[0]["pages"] == 15
    finally:
        tel.stop()


def test_stop_closes_database_and_broker_sockets_while_the_monitor_is_still_held(broker: BrokerProcess,
                                                                                 tmp_path: Path):
    from tests.support.fdwatch import open_fds

    db_path = tmp_path / "held.db"
    before = open_fds()
    mon = Monitor(host="127.0.0.1", port=broker.port, username="server", password="server-pw",
                  db_path=db_path, tick=0.1)
    mon.start()
    mon.wait_until(lambda s: s["broker_connected"], 10)
    running = open_fds()
    assert any(target.startswith(str(db_path)) for target in running.values())  # the probe sees the database
    assert sum(target.startswith("socket:") for target in running.values()) >= 3  # broker + paho's pair
    mon.stop()
    after = open_fds()  # `mon` is still referenced: nothing here waits for the collector
    assert not [t for t in after.values() if t.startswith(str(db_path))]
    assert len(after) <= len(before), sorted(set(after.values()) - set(before.values()))
    with pytest.raises(RuntimeError):
        mon.start()
    mon.stop()  # a second stop is harmless
