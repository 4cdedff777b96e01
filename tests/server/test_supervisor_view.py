"""The supervisor's view: pace per operator, station and fonds against the work orders' plan from real
telemetry (real mosquitto, monitor, Telemetry publisher); each operator's defect rate from validated
acceptance decisions, the operator learnt from the stored package's PREMIS history; rejection reasons as
Vietnamese names of what failed, never the English detail."""

from __future__ import annotations

from pathlib import Path

from archive_support import archive, three_page_pdf  # noqa: F401 - fixtures
from test_dashboard_support import Floor, SSEReader, floor  # noqa: F401 - fixture
from test_workorders import GOOD, csv_bytes

from server.archive import browse, decisions
from server.web import supervisor
from server.workorders import import_inventory, read_inventory
from tests.support.web import SUPERVISOR
from tests.support.web import web_login as login


def test_pace_against_the_plan(floor: Floor):  # noqa: F811 - fixture
    import_inventory(floor.context.db, read_inventory(Path("x.csv"), csv_bytes(GOOD[:2])))  # G09: 12 + 30 sheets
    file_code = "000.00.00.H47.2001.161.VP"  # 30 sheets, assigned to st-a by the inventory
    s = login(floor.url, *SUPERVISOR)
    sse = SSEReader(s, floor.url)
    tel = floor.telemetry("st-a")
    try:
        first = sse.next("snapshot")
        assert [f["name"] for f in first["pace"]["fonds"]] == ["G09"] and first["pace"]["operator"] == []
        assert first["pace"]["fonds"][0]["scanned"] == 0 and first["pace"]["fonds"][0]["hours_left"] is None
        tel.set_state(operator="lan", batch="b-1", batch_state="OPEN", fonds="G09", file_code=file_code,
                      scanner="scanning")
        tel.progress(pages_captured=10, pages_per_minute=6.0)
        summary = sse.next("summary", timeout=15, where=lambda d: d["pace"]["operator"])
        pace = summary["pace"]
        [op] = pace["operator"]
        assert (op["name"], op["this_hour"], op["today"], op["per_hour"]) == ("lan", 10, 10, 10.0)
        st = next(e for e in pace["station"] if e["name"] == "st-a")
        assert (st["expected"], st["scanned"], st["left"], st["percent"], st["hours_left"]) == (30, 10, 20, 33, 2.0)
        [fonds] = pace["fonds"]
        assert (fonds["expected"], fonds["scanned"], fonds["left"], fonds["hours_left"]) == (42, 10, 32, 3.2)
    finally:
        tel.stop()
        sse.close()


def test_defect_rate_per_operator_from_acceptance(archive):  # noqa: F811 - fixture
    ctx, objid = archive.context, archive.objid
    assert browse.makers(ctx, objid) == {"le.van.quet"}  # the PREMIS transfer event's person
    defects = [
        {"class": "major", "kind": "unreadable", "objid": objid, "doc_id": archive.doc_id, "page": 2, "note": "mờ"},
        {"class": "minor", "kind": "skew", "objid": objid, "doc_id": archive.doc_id, "page": 3, "note": ""},
        {"class": "critical", "kind": "missing_page", "objid": "urn:uuid:other", "doc_id": "", "page": 1,
         "note": "another hồ sơ's defect"},
    ]
    did = decisions.propose(ctx.db, lot="lot-1", objids=[objid], decision="return", defects=defects,
                            inspector="kiem.tra", address="127.0.0.1")
    assert supervisor.defect_rates(ctx) == []  # a proposal is not yet a decision
    decisions.validate(ctx.db, did, validator="truong.phong", makers=browse.makers(ctx, objid),
                       address="127.0.0.1")
    [rate] = supervisor.defect_rates(ctx)
    assert rate == {"operator": "le.van.quet", "hoso": 1, "pages": 3, "critical": 0, "major": 1, "minor": 1,
                    "defects": 2, "per_100": 66.67}
    data = login(archive.url, *SUPERVISOR).get(archive.url + "/api/v1/dashboard", timeout=30).json()
    assert data["defects"] == [rate]


def test_rejection_reasons_in_vietnamese():
    said = supervisor.reasons_vi([
        "pdfa: page 1: no OutputIntent", "pdfa: page 2: font not embedded",
        "work order: wo-1 is not assigned to station st-b", "history: OBJID x is already stored", "odd thing",
    ])
    assert said == ["Tệp PDF không đạt chuẩn PDF/A", "Lệnh số hóa không thuộc trạm này hoặc khác hồ sơ",
                    "Hồ sơ đã được lưu với nội dung khác (không khai báo là phiên bản mới)",
                    "Gói không đạt kiểm tra (xem chi tiết trong kho lưu trữ)"]
    from server.checks import CHECKS
    from server.labels import LABELS, label_in

    unnamed = [name for name, _ in CHECKS if name not in LABELS["reject"]
               or label_in("reject", name, "vi") == label_in("reject", name, "en")]
    assert not unnamed, f"every check needs its Vietnamese name (server/labels.py, the vi catalogue): {unnamed}"


def test_import_refusals_in_vietnamese(floor: Floor):  # noqa: F811 - fixture
    from tests.support.web import csrf_from

    s = login(floor.url, *SUPERVISOR)
    token = csrf_from(s.get(floor.url + "/workorders", timeout=10).text)
    empty = s.post(floor.url + "/workorders/import", data={"csrf_token": token}, timeout=30)
    assert empty.status_code == 400 and "Chọn một tệp mục lục (CSV hoặc XLSX)" in empty.text
    big = s.post(floor.url + "/workorders/import", data={"csrf_token": token},
                 files={"inventory": ("muc-luc.csv", b"x" * (20 * 1024 * 1024 + 1))}, timeout=60)
    assert big.status_code == 413 and "Tệp quá lớn (tối đa 20 MB)" in big.text and "&gt; 20 MB" not in big.text
