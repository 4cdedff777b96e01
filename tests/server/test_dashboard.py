"""The supervisor dashboard against a real mosquitto, the real monitor and real Telemetry publishers:
server-sent events carry tiles and events within a fraction of a second, the summary carries throughput,
progress per fonds and work order, and rejections with their reasons."""

from __future__ import annotations

import re
import time
from pathlib import Path

from test_dashboard_support import Floor, SSEReader, floor  # noqa: F401 - fixture
from test_workorders import GOOD, csv_bytes

from server.workorders import import_inventory, read_inventory
from station.capture.source import ScanFault
from tests.support.wait import wait_until
from tests.support.web import SUPERVISOR, web_login


def test_page_shows_every_registered_station_before_it_reports(floor: Floor):  # noqa: F811 - fixture
    s = web_login(floor.url, *SUPERVISOR)
    data = s.get(floor.url + "/api/v1/dashboard", timeout=10).json()
    assert set(data["stations"]) == {"st-a", "st-b"}
    assert data["stations"]["st-a"]["status"] == "unknown" and data["broker_connected"] is True
    page = s.get(floor.url + "/", timeout=10).text
    assert "barchart.js" in page
    # nothing from another site (a word test for "cdn" fails on escaped Vietnamese: "\u1ecdng" in "trọng")
    external = r'(?:src|href)="(?:https?:)?//'
    assert re.findall(external, '<script src="https://cdn.example/x.js"></script><link href="//cdn.example/y.css">')
    assert not re.findall(external, page)  # the same probe, which saw the two above


def test_sse_brings_tiles_events_and_summary_live(floor: Floor):  # noqa: F811 - fixture
    import_inventory(floor.context.db, read_inventory(Path("x.csv"), csv_bytes(GOOD[:1])))
    code = GOOD[0]
    file_code = f"{code[1]}.{code[2]}.{code[3]}"
    s = web_login(floor.url, *SUPERVISOR)
    sse = SSEReader(s, floor.url)
    tel = floor.telemetry("st-a")
    try:
        snap = sse.next("snapshot")
        assert "st-a" in snap["stations"] and "throughput" in snap
        tel.set_state(operator="lan", batch="b-1", batch_state="OPEN", fonds="G09", file_code=file_code,
                      scanner="scanning")
        sse.next("delta", where=lambda d: d["stations"].get("st-a", {}).get("operator") == "lan")
        t0 = time.time()
        tel.progress(pages_captured=10, pages_per_minute=6.0, queue_ocr=3)
        delta = sse.next("delta", where=lambda d: d["stations"].get("st-a", {}).get("pages_captured") == 10)
        assert time.time() - t0 < 1.0
        tile = delta["stations"]["st-a"]
        assert tile["status"] == "online" and tile["scanner"] == "scanning" and tile["queue_ocr"] == 3
        jam = ScanFault("jammed")  # the station's fault, its words by key
        tel.event("fault", code="JAMMED", **jam.said.as_dict())
        delta = sse.next("delta", where=lambda d: any(e["code"] == "JAMMED" for e in d["events"]))
        said = delta["stations"]["st-a"]["last_fault"]["texts"]  # every language: the page picks its own
        assert said == {"vi": jam.text("vi"), "en": jam.text("en")} and said["vi"].startswith("Kẹt giấy")
        summary = sse.next("summary", timeout=15, where=lambda d: d["throughput"]["today"]["station"])
        assert [(r["station"], r["pages"]) for r in summary["throughput"]["today"]["station"]] == [("st-a", 10)]
        assert [(r["operator"], r["pages"]) for r in summary["throughput"]["today"]["operator"]] == [("lan", 10)]
        assert summary["throughput"]["week"]["station"][0]["pages"] == 10
        [order] = summary["workorders"]
        assert order["stage"] == "scanning" and order["pages_scanned"] == 10
        assert summary["fonds"][0]["expected"] == 12 and summary["fonds"][0]["scanned"] == 10
        assert summary["events"][0]["code"] == "JAMMED"
        tel.stop()
        sse.next("delta", where=lambda d: d["stations"].get("st-a", {}).get("status") == "offline")
    finally:
        tel.stop()
        sse.close()


def test_viewer_that_leaves_is_unsubscribed(floor: Floor):  # noqa: F811 - fixture
    monitor = floor.context.monitor
    s = web_login(floor.url, *SUPERVISOR)
    s.get(floor.url + "/api/v1/dashboard", timeout=10)  # the work-order tracker subscribes once, here
    before = len(monitor._subscribers)
    sse = SSEReader(s, floor.url)
    sse.next("snapshot")
    assert len(monitor._subscribers) == before + 1
    sse.close()
    tel = floor.telemetry("st-b")  # a change makes the server write, notice the closed socket, and stop
    try:
        def unsubscribed() -> bool:
            tel.progress(pages_captured=int(time.monotonic() * 10) % 100000)
            return len(monitor._subscribers) == before

        wait_until(unsubscribed, 10, "the closed stream's subscriber to go", interval=0.2)
    finally:
        tel.stop()


def test_rejections_show_their_reasons(floor: Floor):  # noqa: F811 - fixture
    db = floor.context.db
    up = db.open_upload(station_id="st-a", sha256="AB" * 32, size=10, file_code="000.00.00.H47.2001.160.VP",
                        batch_uid="B1", work_order_id=None, expected_sheets=12)
    db.finish_upload(up["id"], state="rejected", receipt={"reasons": ["pages: 11 sheets, expected 12"]})
    s = web_login(floor.url, *SUPERVISOR)
    data = s.get(floor.url + "/api/v1/dashboard", timeout=10).json()
    assert data["rejections"][0]["reasons"] == ["pages: 11 sheets, expected 12"]
    assert data["rejections"][0]["station_id"] == "st-a"
