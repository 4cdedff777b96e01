"""The rework notice over the project's real mosquitto config: validating a decision inside the server app
publishes `server/rework/<maker station>`; the maker station's telemetry receives it (and the station then
fetches the list over the sync API); another station subscribed to that topic receives nothing (ACL)."""

from __future__ import annotations

import threading
import time

from test_broker import ACCOUNTS, Recorder, broker, wait_for  # noqa: F401 - fixture

from protocol.topics import TopicKind, server_topic
from server.archive import decisions
from station.sync.client import SyncClient
from station.telemetry import Telemetry


def test_validated_return_is_announced_to_the_maker_station_only(broker, make_package, tmp_path,  # noqa: F811
                                                                 demo_keys):
    from server.app import build_context, create_app
    from server.config import ServerConfig
    from server.monitoring.monitor import Monitor
    from tests.support.servers import LiveServer, close_context

    context = build_context(ServerConfig(data_dir=tmp_path / "server", trust_roots=[demo_keys.ca_pem]))
    creds = context.db.add_station("st-a")
    context.monitor = Monitor(host="127.0.0.1", port=broker.port, username="server", password=ACCOUNTS["server"],
                              db_path=tmp_path / "monitor.db")
    context.monitor.start()
    got: list = []
    arrived = threading.Event()
    station = Telemetry("st-a", host="127.0.0.1", port=broker.port, username="st-a", password=ACCOUNTS["st-a"],
                        on_command=lambda ref, payload: (got.append((ref, payload)), arrived.set()))
    station.start()
    snoop = Recorder(broker.port, "st-b", server_topic("rework", "st-a"))
    app = create_app(context)
    try:
        with LiveServer(app) as live:
            pkg = make_package()
            receipt = SyncClient(live.url, station_id="st-a", token=creds["token"]).send(
                pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={"batch_uid": "B-7"})
            assert receipt.verdict == "accepted"
        wait_for(lambda: station.connected and context.monitor.snapshot()["broker_connected"])
        time.sleep(0.3)  # the station's subscription is sent right after its connect
        did = decisions.propose(context.db, lot="L", objids=[pkg.objid], decision="return", defects=[],
                                inspector="kiem.tra", address="127.0.0.1")
        with app.app_context():
            decisions.validate(context.db, did, validator="truong.phong", makers=set(), address="127.0.0.1")
        assert arrived.wait(10), "the maker station got no notice"
        [(ref, payload)] = got
        assert ref.kind == TopicKind.REWORK and ref.station_id == "st-a"
        assert (payload.objid, payload.state, payload.batch) == (pkg.objid, "returned", "B-7")
        time.sleep(0.3)
        assert snoop.got == [], "another station read the notice"
    finally:
        snoop.close()
        station.stop()
        context.monitor.stop()
        close_context(context)
