"""Capture through the real SANE test backend: ADF, flatbed, duplex, faults, refusals."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PIL import Image

from protocol.hashing import sha256_file
from station.capture.journal import Journal
from station.capture.profiles import Profile, ProfileError, profile_for
from station.capture.sane_source import SaneSource
from station.capture.service import CaptureService, CaptureState
from station.capture.source import CapturedImage, CaptureRefused, ScanRequest, open_source
from station.store import Store

FAULTS = [
    ("SANE_STATUS_JAMMED", "jammed"),
    ("SANE_STATUS_COVER_OPEN", "cover_open"),
    ("SANE_STATUS_DEVICE_BUSY", "device_busy"),
    ("SANE_STATUS_IO_ERROR", "io_error"),
    ("SANE_STATUS_CANCELLED", "cancelled"),
]


def run(service: CaptureService, batch_id: int, source, request: ScanRequest):
    service.start(batch_id, source, request, actor="tester")
    outcome = service.wait(source.id, timeout=60)
    assert outcome is not None, "the run did not finish"
    return outcome


def test_adf_batch_is_journalled_before_anyone_hears(sane_test_device: str, station_store: Store,
                                                      journal: Journal, batch_id: int, data_dir: Path) -> None:
    service = CaptureService(station_store, journal)
    heard: list[dict] = []
    durable_when_heard: list[bool] = []

    def on_page(row: dict) -> None:
        path = data_dir / row["path"]
        committed = station_store.one("SELECT sha256 FROM pages WHERE id = ?", (row["id"],))
        durable_when_heard.append(path.exists() and committed is not None and
                                  committed["sha256"] == sha256_file(path))
        heard.append(row)

    states: list = []
    service.add_listener(on_page=on_page, on_state=states.append)
    outcome = run(service, batch_id, open_source("sane", device=sane_test_device), ScanRequest(source="adf"))

    assert (outcome.pages, outcome.ended, outcome.fault) == (10, "empty", None)
    rows = station_store.pages(batch_id)
    assert [r["seq"] for r in rows] == list(range(1, 11))
    assert [r["sheet"] for r in rows] == list(range(1, 11))
    assert {r["side"] for r in rows} == {"single"}
    assert [r["id"] for r in heard] == [r["id"] for r in rows]
    assert all(durable_when_heard)
    uid = station_store.batch(batch_id)["uid"]
    for row in rows:
        path = data_dir / row["path"]
        assert row["path"] == f"pages/{uid}/{row['seq']:05d}-single.png"
        assert sha256_file(path) == row["sha256"]
        assert (row["width"], row["height"], row["dpi"]) == (2480, 3507, 300.0)
        assert row["captured_at"].endswith("+07:00")
        assert row["device"] == sane_test_device and row["source"] == "adf"
        assert row["settings"]["options"]["resolution"] == 300.0
        assert row["settings"]["options"]["mode"] == "Color"
    with Image.open(data_dir / rows[0]["path"]) as image:
        assert image.mode == "RGB" and image.size == (2480, 3507)
        assert round(image.info["dpi"][0]) == 300
    assert [s.state for s in states] == [CaptureState.SCANNING, CaptureState.IDLE]
    assert service.state == CaptureState.IDLE
    service.close()


def test_flatbed_single_then_more_into_the_same_batch(sane_test_device: str, station_store: Store,
                                                      journal: Journal, batch_id: int) -> None:
    service = CaptureService(station_store, journal)
    source = open_source("sane", device=sane_test_device)
    first = run(service, batch_id, source, ScanRequest(source="flatbed"))
    assert (first.pages, first.ended) == (1, "done")
    second = run(service, batch_id, source, ScanRequest(source="adf"))
    assert second.pages == 10
    rows = station_store.pages(batch_id)
    assert [r["seq"] for r in rows] == list(range(1, 12))
    assert [r["sheet"] for r in rows] == list(range(1, 12))  # sheet numbers continue across runs
    assert rows[0]["source"] == "flatbed"
    service.close()


def test_duplex_pairs_front_and_back(sane_test_device: str, station_store: Store, journal: Journal,
                                     batch_id: int) -> None:
    service = CaptureService(station_store, journal)
    source = open_source("sane", device=sane_test_device)
    run(service, batch_id, source, ScanRequest(source="flatbed"))
    outcome = run(service, batch_id, source, ScanRequest(source="adf_duplex"))
    assert outcome.pages == 10
    rows = station_store.pages(batch_id)[1:]
    assert [(r["sheet"], r["side"]) for r in rows] == [
        (s, side) for s in range(2, 7) for side in ("front", "back")]
    assert all(r["path"].endswith(f"-{r['side']}.png") for r in rows)
    service.close()


@pytest.mark.parametrize(("status", "code"), FAULTS)
def test_fault_mid_batch_keeps_earlier_pages(sane_test_device: str, journal: Journal, batch_id: int,
                                             station_store: Store, status: str, code: str) -> None:
    source = SaneSource(sane_test_device)
    rows: list[dict] = []

    def on_page(captured: CapturedImage) -> None:
        rows.append(journal.record(batch_id, captured, actor="tester"))
        if len(rows) == 3:  # the scanner fails on the 4th sheet
            source.set_option("read-return-value", status)

    outcome = source.scan(ScanRequest(source="adf"), on_page=on_page, stop=threading.Event())
    assert outcome.ended == "fault" and outcome.pages == 3
    assert outcome.fault is not None and outcome.fault.code == code
    assert outcome.fault.message and outcome.fault.text("vi") != outcome.fault.message
    assert "Các trang đã quét trước đó vẫn được giữ" in outcome.fault.text("vi")
    kept = station_store.pages(batch_id)
    assert [r["seq"] for r in kept] == [1, 2, 3]
    assert all(sha256_file(journal.data_dir / r["path"]) == r["sha256"] for r in kept)


def test_every_sane_status_maps_to_its_operator_fault(sane_test_device: str) -> None:
    from station.capture.sane_source import STATUS_FAULTS

    source = SaneSource(sane_test_device)
    texts = {"Document feeder jammed": "jammed", "Scanner cover is open": "cover_open",
             "Device busy": "device_busy", "Error during device I/O": "io_error",
             "Operation was canceled": "cancelled"}
    for text, code in texts.items():
        assert STATUS_FAULTS[text] == code
        fault = source._fault(text)
        assert fault.code == code and fault.text("vi") and fault.text("vi") != fault.message


def test_fault_through_service_then_continue(sane_test_device: str, station_store: Store, journal: Journal,
                                             batch_id: int) -> None:
    service = CaptureService(station_store, journal)
    faults: list = []
    service.add_listener(on_fault=faults.append)
    good = open_source("sane", device=sane_test_device)
    run(service, batch_id, good, ScanRequest(source="flatbed"))
    jammed = SaneSource(sane_test_device, options={"read_return_value": "SANE_STATUS_JAMMED"})
    outcome = run(service, batch_id, jammed, ScanRequest(source="adf"))
    assert outcome.ended == "fault" and outcome.fault.code == "jammed"
    assert service.state == CaptureState.FAULT and service.fault(sane_test_device).code == "jammed"
    assert [f.code for f in faults] == ["jammed"]
    assert "Kẹt giấy" in faults[0].text("vi")
    # the operator clears the jam and scans more into the same batch
    service.clear_fault(sane_test_device)
    assert service.state == CaptureState.IDLE
    again = run(service, batch_id, good, ScanRequest(source="adf"))
    assert again.pages == 10
    assert [r["seq"] for r in station_store.pages(batch_id)] == list(range(1, 12))
    actions = [a["action"] for a in station_store.query("SELECT action FROM audit ORDER BY id")]
    assert "capture.fault" in actions
    service.close()


def test_empty_feeder_is_no_paper_fault(sane_test_device: str) -> None:
    source = SaneSource(sane_test_device, options={"read_return_value": "SANE_STATUS_NO_DOCS"})
    outcome = source.scan(ScanRequest(source="adf"), on_page=lambda c: None, stop=threading.Event())
    assert (outcome.pages, outcome.ended, outcome.fault.code) == (0, "fault", "no_paper")


def test_feeder_running_dry_mid_batch_is_a_normal_end(sane_test_device: str) -> None:
    source = SaneSource(sane_test_device)
    got: list[int] = []

    def on_page(captured: CapturedImage) -> None:
        got.append(captured.sheet)
        if len(got) == 4:
            source.set_option("read_return_value", "SANE_STATUS_NO_DOCS")

    outcome = source.scan(ScanRequest(source="adf"), on_page=on_page, stop=threading.Event())
    assert (outcome.pages, outcome.ended, outcome.fault) == (4, "empty", None)


def test_unplugged_device_is_a_fault_not_a_crash(sane_test_device: str) -> None:
    outcome = SaneSource("test:9").scan(ScanRequest(source="adf"), on_page=lambda c: None,
                                        stop=threading.Event())
    assert outcome.ended == "fault" and outcome.fault.code == "unplugged"
    assert "Cắm lại cáp" in outcome.fault.text("vi")


def test_stop_keeps_the_page_in_hand(sane_test_device: str) -> None:
    stop = threading.Event()
    got: list[CapturedImage] = []

    def on_page(captured: CapturedImage) -> None:
        got.append(captured)
        if len(got) == 2:
            stop.set()

    outcome = SaneSource(sane_test_device).scan(ScanRequest(source="adf"), on_page=on_page, stop=stop)
    assert (outcome.pages, outcome.ended) == (2, "stopped") and len(got) == 2


@pytest.mark.parametrize("request_", [ScanRequest(dpi=150), ScanRequest(dpi=199), ScanRequest(mode="gray"),
                                      ScanRequest(mode="lineart")])
def test_below_archival_minimum_is_refused(sane_test_device: str, station_store: Store, journal: Journal,
                                           batch_id: int, request_: ScanRequest) -> None:
    service = CaptureService(station_store, journal)
    with pytest.raises(CaptureRefused) as caught:
        service.start(batch_id, SaneSource(sane_test_device), request_, actor="tester")
    assert caught.value.code in ("dpi_too_low", "not_colour")
    assert "200 dpi" in caught.value.text("vi") or "màu" in caught.value.text("vi")
    assert station_store.pages(batch_id) == []
    service.close()


def test_read_back_below_minimum_is_refused(sane_test_device: str) -> None:
    # The request says 300 but a raw option forces 100: what the device took is what counts.
    source = SaneSource(sane_test_device, options={"resolution": 100})
    with pytest.raises(CaptureRefused) as caught:
        source.scan(ScanRequest(source="flatbed"), on_page=lambda c: None, stop=threading.Event())
    assert caught.value.code == "dpi_too_low" and "100" in caught.value.message


def test_clamped_values_are_recorded(sane_test_device: str) -> None:
    got: list[CapturedImage] = []
    SaneSource(sane_test_device).scan(ScanRequest(source="flatbed", page_size="A3"), on_page=got.append,
                                      stop=threading.Event())
    settings = got[0].settings
    assert settings["clamped"]["br_y"] == [420.0, 300.0]  # the device's maximum, read back
    assert settings["options"]["br_y"] == 300.0


def test_misspelt_option_is_refused(sane_test_device: str) -> None:
    source = SaneSource(sane_test_device, options={"test_pictrue": "Grid"})
    with pytest.raises(CaptureRefused) as caught:
        source.scan(ScanRequest(source="flatbed"), on_page=lambda c: None, stop=threading.Event())
    assert caught.value.code == "unknown_option" and "test_pictrue" in caught.value.message


def test_misspelt_profile_option_is_refused_at_bind(sane_test_device: str) -> None:
    data = {"family": "broken", "backends": ["test"], "options": {"mode": "mode", "resolution": "resoluton"},
            "modes": {"color": "Color"}}
    source = SaneSource(sane_test_device, profile=Profile.from_dict(data))
    with pytest.raises(ProfileError, match="resoluton"):
        source.describe()


def test_generic_profile_drives_the_test_device(sane_test_device: str) -> None:
    generic = profile_for("nosuchbackend:0")
    assert generic.family == "generic"
    got: list[CapturedImage] = []
    outcome = SaneSource(sane_test_device, profile=generic).scan(ScanRequest(source="adf"), on_page=got.append,
                                                                 stop=threading.Event())
    assert outcome.pages == 10
    assert got[0].settings["options"]["source"] == "Automatic Document Feeder"


def test_broken_listener_does_not_stop_capture(sane_test_device: str, station_store: Store, journal: Journal,
                                               batch_id: int) -> None:
    service = CaptureService(station_store, journal)
    good: list[dict] = []

    def broken(row: dict) -> None:
        raise RuntimeError("listener bug")

    service.add_listener(on_page=broken)
    service.add_listener(on_page=good.append)
    outcome = run(service, batch_id, open_source("sane", device=sane_test_device), ScanRequest(source="adf"))
    assert outcome.pages == 10 and len(good) == 10
    service.close()


def test_storage_failure_stops_capture_with_a_clear_fault(sane_test_device: str, station_store: Store,
                                                          journal: Journal, batch_id: int, data_dir: Path) -> None:
    # A file where the batch's page folder should be: every write fails, as on a broken disk.
    (data_dir / "pages").mkdir()
    (data_dir / "pages" / station_store.batch(batch_id)["uid"]).write_bytes(b"")
    service = CaptureService(station_store, journal)
    faults: list = []
    service.add_listener(on_fault=faults.append)
    outcome = run(service, batch_id, open_source("sane", device=sane_test_device), ScanRequest(source="adf"))
    assert outcome.pages == 0 and outcome.ended == "fault"
    assert service.state == CaptureState.FAULT and [f.code for f in faults] == ["storage_error"]
    assert "Không lưu được" in faults[0].text("vi")
    assert station_store.pages(batch_id) == []
    service.close()


def test_same_device_cannot_start_twice(sane_test_device: str, station_store: Store, journal: Journal,
                                        batch_id: int) -> None:
    from station.capture.service import CaptureBusy

    service = CaptureService(station_store, journal)
    first = threading.Event()
    service.add_listener(on_page=lambda row: first.set())
    slow = SaneSource(sane_test_device, options={"read_delay": True, "read_delay_duration": 20000})
    service.start(batch_id, slow, ScanRequest(source="adf"), actor="a")
    with pytest.raises(CaptureBusy):
        service.start(batch_id, open_source("sane", device=sane_test_device), ScanRequest(), actor="a")
    assert first.wait(60), "no page within a minute"
    service.stop(sane_test_device)
    outcome = service.wait(timeout=120)
    assert outcome.ended == "stopped" and 1 <= outcome.pages < 10
    assert len(station_store.pages(batch_id)) == outcome.pages
    service.close()


def _with_double_feed(double_feed: dict) -> Profile:
    """The test profile with a double-feed plan. The test backend has no df-* options, but it has the same
    structure as fujitsu's: a master switch (enable-test-options, like df-action=Stop) that makes other
    options active (bool-soft-select-soft-detect, like df-thickness), so the real python-sane path runs."""
    import dataclasses

    return dataclasses.replace(profile_for("test:0"), double_feed=double_feed)


def test_double_feed_detection_is_set_in_order_and_recorded(sane_test_device: str) -> None:
    plan = {"enable-test-options": True, "bool-soft-select-soft-detect": True, "df-thickness": True}
    got: list[CapturedImage] = []
    outcome = SaneSource(sane_test_device, profile=_with_double_feed(plan)).scan(
        ScanRequest(source="adf"), on_page=got.append, stop=threading.Event())
    assert outcome.pages == 10
    df = got[0].settings["double_feed"]
    assert df["set"] == {"enable-test-options": True, "bool-soft-select-soft-detect": True}
    assert df["skipped"] == {"df-thickness": "not offered"} and df["on"] is True
    # the same options in the wrong order: the second was still inactive when its turn came
    got.clear()
    SaneSource(sane_test_device, profile=_with_double_feed(dict(reversed(list(plan.items()))))).scan(
        ScanRequest(source="adf"), on_page=got.append, stop=threading.Event())
    assert got[0].settings["double_feed"]["skipped"]["bool-soft-select-soft-detect"] == "inactive"
    # the glass has no feeder: nothing is set there
    got.clear()
    SaneSource(sane_test_device, profile=_with_double_feed(plan)).scan(
        ScanRequest(source="flatbed"), on_page=got.append, stop=threading.Event())
    assert got[0].settings["double_feed"] == {"on": False, "set": {}, "skipped": {}}


def test_jam_with_double_feed_detection_on_tells_the_operator_both(sane_test_device: str) -> None:
    jam = {"read_return_value": "SANE_STATUS_JAMMED"}
    plain = SaneSource(sane_test_device, options=jam).scan(
        ScanRequest(source="adf"), on_page=lambda c: None, stop=threading.Event())
    assert plain.fault.code == "jammed"  # without detection a jam is only a jam
    detecting = SaneSource(sane_test_device, profile=_with_double_feed({"enable-test-options": True}),
                           options=jam).scan(ScanRequest(source="adf"), on_page=lambda c: None,
                                             stop=threading.Event())
    assert detecting.ended == "fault" and detecting.fault.code == "double_feed_or_jam"
    assert "hai tờ bị kéo cùng lúc" in detecting.fault.text("vi")
    assert "two sheets fed together" in detecting.fault.message
