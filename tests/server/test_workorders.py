"""Work orders: inventory import (CSV and XLSX) with a report of bad rows, priorities, assignment,
the station's API view, MQTT notices through a real broker, and stages up to accepted."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest
from records_support import open_records, records, records_target  # noqa: F401 - fixtures
from test_dashboard_support import Floor, floor  # noqa: F401 - fixture

from protocol.topics import WorkOrderPayload
from server.workorders import InventoryError, assign, import_inventory, overview, read_inventory
from server.workorders.inventory import parse_inventory
from server.workorders.orders import ProgressTracker, priority_of
from tests.support.wait import wait_until
from tests.support.web import SUPERVISOR, csrf_from, web_login

HEADER_VI = ["Mã phông", "Mã cơ quan", "Năm", "Số và ký hiệu hồ sơ", "Tiêu đề hồ sơ", "Số tờ", "Ngày bắt đầu",
             "Ngày kết thúc", "Thời hạn bảo quản", "Sử dụng nhiều", "Hư hỏng", "Trạm"]
GOOD = [
    ["G09", "000.00.00.H47", "2001", "160.VP", "Hồ sơ cấp đất Long Thành", "12", "04/03/2001", "28/12/2001",
     "Vĩnh viễn", "", "", ""],
    ["G09", "000.00.00.H47", "2001", "161.VP", "Hồ sơ xây dựng trụ sở", "30", "01/01/2001", "30/06/2001",
     "70 năm", "x", "có", "st-a"],
    ["G10", "000.00.00.H47", "2002", "12.TC", "Báo cáo tài chính năm 2002", "8", "02/01/2002", "31/12/2002",
     "02", "x", "", ""],
]
BAD = [
    ["G09", "000.00.00.H47", "2001", "160.VP", "Trùng mã với dòng 2", "5", "01/01/2001", "01/02/2001",
     "01", "", "", ""],  # duplicate of row 2
    ["G09", "000.00.00.H47", "hai nghìn", "170.VP", "Năm sai", "5", "01/01/2001", "01/02/2001", "01", "", "", ""],
    ["G09", "000.00.00.H47", "2001", "171.VP", "Ngày sai", "0", "31/02/2001", "01/02/2001", "01", "", "", ""],
    ["G09", "000.00.00.H47", "2001", "172.VP", "", "5", "01/01/2001", "01/02/2001", "99", "có lẽ", "", ""],
]


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER_VI) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # Excel's "CSV UTF-8" has a BOM


def test_csv_report_names_row_column_and_reason_in_both_languages():
    inv = read_inventory(Path("muc-luc.csv"), csv_bytes(GOOD + BAD))
    assert inv.total == 7
    assert [r.file_code for r in inv.rows] == ["000.00.00.H47.2001.160.VP", "000.00.00.H47.2001.161.VP",
                                               "000.00.00.H47.2002.12.TC"]
    by_row: dict[int, list] = {}
    for p in inv.problems:
        by_row.setdefault(p.row, []).append(p)
    assert sorted(by_row) == [5, 6, 7, 8]  # the header is row 1
    assert by_row[5][0].column == "file_code" and "dòng 2" in by_row[5][0].text("vi")
    assert by_row[6][0].column == "year" and by_row[6][0].value == "hai nghìn"
    cols7 = {p.column for p in by_row[7]}
    assert {"expected_sheets", "start_date"} <= cols7
    cols8 = {p.column: p for p in by_row[8]}
    assert {"title", "maintenance", "permanent"} - set(cols8) == {"permanent"}  # no such column: derived
    assert cols8["high_use"].value == "có lẽ"  # not a yes/no word
    assert cols8["title"].text("vi") == "Tiêu đề hồ sơ: bắt buộc nhập"
    assert "Thời hạn lưu trữ" in cols8["maintenance"].text("vi")
    assert all(p.message and p.text("vi") for p in inv.problems)
    flags = {r.file_code: r.flags for r in inv.rows}
    assert flags["000.00.00.H47.2001.160.VP"] == ("permanent",)  # Vĩnh viễn -> permanent retention
    assert flags["000.00.00.H47.2001.161.VP"] == ("damaged", "high_use")
    assert inv.rows[1].station == "st-a" and inv.rows[1].expected_sheets == 30


def test_unknown_flag_word_is_a_problem():
    rows = [GOOD[0][:9] + ["có lẽ", "", ""]]
    inv = read_inventory(Path("x.csv"), csv_bytes(rows))
    assert not inv.rows and inv.problems[0].column == "high_use"


def test_semicolon_csv_and_english_headers():
    header = ["fonds_code", "agency_id", "year", "notation", "title", "expected_sheets", "start_date", "end_date",
              "maintenance", "damaged"]
    text = ";".join(header) + "\n" + ";".join(GOOD[0][:9] + ["x"]) + "\n"
    inv = read_inventory(Path("x.csv"), text.encode())
    assert len(inv.rows) == 1 and inv.rows[0].flags == ("damaged", "permanent")


def test_xlsx_with_real_dates_and_numbers(tmp_path: Path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Mục lục hồ sơ phông UBND"])  # a title line above the header is common
    sheet.append([])
    sheet.append(HEADER_VI)
    sheet.append(["G09", "000.00.00.H47", 2001, "160.VP", "Hồ sơ cấp đất", 12, datetime(2001, 3, 4),
                  datetime(2001, 12, 28), "Vĩnh viễn", None, "x", None])
    sheet.append(["G09", "000.00.00.H47", 2001.0, "161.VP", "Hồ sơ hai", 3.0, "01/01/2001", "02/01/2001", "01",
                  None, None, None])
    sheet.append(["G09", "bad agency", 2001, "162.VP", "Hồ sơ ba", 3, "01/01/2001", "02/01/2001", "01",
                  None, None, None])
    path = tmp_path / "muc-luc.xlsx"
    book.save(path)
    inv = read_inventory(path)
    assert [r.row for r in inv.rows] == [4, 5]
    assert inv.rows[0].record.start_date == "04/03/2001" and inv.rows[0].expected_sheets == 12
    assert inv.rows[1].record.year == 2001 and inv.rows[1].expected_sheets == 3
    assert [(p.row, p.column) for p in inv.problems] == [(6, "agency_id")]


def test_whole_file_errors_are_clear():
    with pytest.raises(InventoryError) as err:
        parse_inventory([["Mã phông", "Tiêu đề"], ["G09", "x"]])
    assert "Thiếu cột" in err.value.text("vi") and "Số tờ" in err.value.text("vi")
    with pytest.raises(InventoryError) as err:
        read_inventory(Path("x.xlsx"), b"PK\x03\x04 not really a zip")
    assert "XLSX" in err.value.text("vi")
    with pytest.raises(InventoryError):
        read_inventory(Path("x.csv"), "Mã phông\n".encode("utf-16"))


def test_priority_damaged_first_then_permanent_then_high_use():
    assert priority_of(("damaged",)) > priority_of(("permanent", "high_use"))
    assert priority_of(("permanent",)) > priority_of(("high_use",)) > priority_of(())


def test_import_orders_by_priority_and_is_idempotent(records):  # noqa: F811 - fixture: SQLite and PostgreSQL
    db = records
    db.add_station("st-a")
    sent = []
    inv = read_inventory(Path("x.csv"), csv_bytes(GOOD))
    dry = import_inventory(db, inv, dry_run=True)
    assert dry.dry_run and len(dry.created) == 3 and db.workorders() == []
    result = import_inventory(db, inv, source="x.csv", notify=sent.append)
    assert len(result.created) == 3 and not result.problems
    orders = db.workorders()
    assert orders[0]["file_code"] == "000.00.00.H47.2001.161.VP"  # damaged first
    assert [o["state"] for o in orders] == ["assigned", "new", "new"]
    assert {f["code"] for f in db.query("SELECT code FROM fonds")} == {"G09", "G10"}
    assert [(n.station_id, n.action) for n in sent] == [("st-a", "assigned")]
    # The record is exactly a FileRecord: the station opens a batch from it.
    from protocol.metadata import FileRecord, check_file

    record = FileRecord(**orders[0]["record"])
    assert [p for p in check_file(record) if not p.warning] == []
    again = import_inventory(db, inv)
    assert again.created == [] and len(again.skipped) == 3 and len(db.workorders()) == 3


def test_unknown_station_in_inventory_is_reported(records):  # noqa: F811 - fixture: SQLite and PostgreSQL
    db = records
    rows = [GOOD[1][:11] + ["st-zz"]]
    result = import_inventory(db, read_inventory(Path("x.csv"), csv_bytes(rows)))
    assert result.created == [] and result.problems[0].column == "station"


def test_stages_from_new_to_accepted(records):  # noqa: F811 - fixture: SQLite and PostgreSQL
    db = records
    db.add_station("st-b")
    import_inventory(db, read_inventory(Path("x.csv"), csv_bytes(GOOD[:1])))
    [wo] = db.workorders()
    stage = lambda: overview(db)["orders"][0]["stage"]  # noqa: E731
    assert stage() == "new"
    assert assign(db, [wo["id"]], "st-b") == [wo["id"]]
    assert stage() == "assigned"
    tracker = ProgressTracker(db)
    tile = {"station_id": "st-b", "batch": "B1", "file_code": wo["file_code"], "batch_state": "OPEN",
            "pages_captured": 7}
    tracker.on_change({"type": "station", "station": tile})
    tracker.on_change({"type": "station", "station": {**tile, "pages_captured": 9}})
    assert overview(db)["orders"][0]["pages_scanned"] == 7  # page counts wait for flush()
    tracker.flush()
    view = overview(db)
    assert view["orders"][0]["stage"] == "scanning" and view["orders"][0]["pages_scanned"] == 9
    tracker.on_change({"type": "station", "station": {**tile, "batch_state": "REVIEW", "pages_captured": 24}})
    assert stage() == "scanned"
    db.set_workorder_state(wo["id"], "accepted")  # what ingest does on an accepted package
    view = overview(db)
    assert view["orders"][0]["stage"] == "accepted" and view["orders"][0]["sheets_accepted"] == 12
    assert view["fonds"] == [{"fonds": "G09", "orders": 1, "expected": 12, "scanned": 24, "accepted": 12,
                              "accepted_orders": 1}]
    assert assign(db, [wo["id"]], None) == []  # an accepted order stays where it is
    with pytest.raises(ValueError):
        assign(db, [wo["id"]], "no-such-station")


def test_station_is_notified_over_mqtt_and_finds_the_order_over_the_api(floor: Floor):  # noqa: F811 - fixture
    """Import on the web page, assign to st-a: st-a's Telemetry gets the notice through mosquitto's ACL,
    st-b gets nothing, and GET /api/v1/workorders with st-a's token lists the order."""
    got_a, got_b = [], []
    tel_a = floor.telemetry("st-a", on_command=lambda ref, p: got_a.append(p))
    tel_b = floor.telemetry("st-b", on_command=lambda ref, p: got_b.append(p))
    def probe(station_id: str, got: list) -> None:
        """A notice for this station, sent until it arrives: its subscription works (the positive control)."""
        notice = WorkOrderPayload(station_id=station_id, work_order_id="probe", action="assigned",
                                  file_code="G09.01.2020.001")

        def arrived() -> bool:
            floor.context.monitor.publish(notice).wait_for_publish(5)
            return any(p.work_order_id == "probe" for p in got)

        wait_until(arrived, 10, f"{station_id} to receive a notice", interval=0.3)

    try:
        probe("st-a", got_a)
        probe("st-b", got_b)
        got_a.clear()
        got_b.clear()
        s = web_login(floor.url, *SUPERVISOR)
        token = csrf_from(s.get(floor.url + "/workorders", timeout=10).text)
        resp = s.post(floor.url + "/workorders/import", data={"csrf_token": token},
                      files={"inventory": ("muc-luc.csv", csv_bytes(GOOD[:1] + BAD[1:2]), "text/csv")}, timeout=30)
        assert resp.status_code == 422  # imported the good row, reports the bad one
        assert "Dòng có lỗi" in resp.text and "Năm không hợp lệ" in resp.text and "hai nghìn" in resp.text
        [wo] = floor.context.db.workorders()
        resp = s.post(floor.url + "/workorders/assign", data={"csrf_token": token, "wo": wo["id"], "station": "st-a"},
                      timeout=10)
        assert resp.status_code == 200 and "Đã giao 1 lệnh" in resp.text
        wait_until(lambda: [p for p in got_a if p.work_order_id != "probe"], 10, "st-a's work-order notice")
        notice = [p for p in got_a if p.work_order_id != "probe"][0]
        assert (notice.work_order_id, notice.action, notice.file_code) == (wo["id"], "assigned", wo["file_code"])
        probe("st-b", got_b)  # sent after st-a's notice by the same monitor: st-b had it first, had it got it
        assert {p.work_order_id for p in got_b} == {"probe"}
        from station.sync.client import SyncClient  # the station's own client: real token auth

        client = SyncClient(floor.url, station_id="st-a", token=floor.secrets["st-a"]["token"])
        assert wo["id"] in [o.id for o in client.workorders()]
        listing = json.loads(s.get(floor.url + "/api/v1/web/workorders", timeout=10).text)
        assert listing["orders"][0]["stage"] == "assigned" and listing["orders"][0]["station_id"] == "st-a"
    finally:
        tel_a.stop()
        tel_b.stop()
