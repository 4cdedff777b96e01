"""OCR suggestions for the document form (real Tesseract on a rendered Vietnamese page imported into a real
station), and the hardware trigger repeating the operator's last scan."""

from __future__ import annotations

import time

from station.web.suggest import parse
from tests.support.records import hoso_record
from tests.support.wait import wait_until
from tests.support.web import admin_headers, login


def test_parse_finds_number_date_and_subject_in_ocr_text():
    text = ("UỶ BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
            "TỈNH ĐỒNG NAI Độc lập - Tự do - Hạnh phúc\n"
            "Số: 0123 / QĐ-UBND Đồng Nai, ngày 4 tháng 3 năm 2001\n\n"
            "QUYẾT ĐỊNH\nVề việc cấp giấy chứng nhận quyền sử dụng\nđất đợt 2\n\n"
            "Căn cứ Luật Đất đai ngày 14 tháng 7 năm 1993;\n")
    assert parse(text) == {"code_number": "123", "code_notation": "QĐ-UBND", "issued_date": "04/03/2001",
                           "subject": "Về việc cấp giấy chứng nhận quyền sử dụng đất đợt 2"}
    assert parse("V/v kiểm tra công tác lưu trữ\nKính gửi: các sở") == {"subject": "V/v kiểm tra công tác lưu trữ"}
    assert parse("ngày 45 tháng 13 năm 2001") == {}  # not a date
    assert parse("Hạ Long, ngày l7 tháng 8 năm 2OO9") == {"issued_date": "17/08/2009"}  # OCR's l for 1


def _client(station):  # noqa: ANN001, F811
    from station.web.app import create_app

    app = create_app(station)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + login(client, "op1")["token"]
    return app, client


def test_suggestions_from_the_first_page_of_an_imported_document(station):  # noqa: F811
    from sohoa.samplepages import sample_metadata, write_sample_folder

    write_sample_folder(station.config.data_dir / "import" / "quyet-dinh", count=1, seed=11, dpi=300)
    app, client = _client(station)
    bid = client.post("/api/batches", json={"record": hoso_record()}, headers=admin_headers(client)).get_json()["id"]
    assert client.post(f"/api/batches/{bid}/scan", json={"kind": "import", "folder": "quyet-dinh"}).status_code == 202
    station.wait_idle(60)
    assert station.pool.drain(timeout=120)
    [page] = client.get(f"/api/batches/{bid}").get_json()["pages"]
    first = client.get(f"/api/pages/{page['id']}/suggest")
    assert first.status_code == 202 and first.get_json() == {"state": "running"}
    resp = wait_until(lambda: (r := client.get(f"/api/pages/{page['id']}/suggest")).status_code != 202 and r, 90,
                      "the OCR suggestion", interval=0.3)
    body = resp.get_json()
    assert body["state"] == "done", body
    truth = sample_metadata(11)
    for name in ("code_number", "code_notation", "issued_date", "subject"):
        assert body["fields"].get(name) == truth[name], (name, body["fields"], truth)
    # cached beside the data: a second ask (or a restart) answers at once
    assert (station.config.data_dir / "cache" / "ocr" / f"{page['id']}.txt").is_file()
    assert client.get(f"/api/pages/{page['id']}/suggest").status_code == 200
    assert client.get("/api/pages/999999/suggest").status_code == 404


def test_trigger_repeats_the_last_scan_and_is_debounced(station):  # noqa: F811
    app, client = _client(station)
    assert client.post("/api/trigger").get_json() == {"fired": True}  # nothing to repeat: refused, logged
    bid = client.post("/api/batches", json={"record": hoso_record()}, headers=admin_headers(client)).get_json()["id"]
    client.post(f"/api/batches/{bid}/scan", json={"kind": "sane", "request": {"source": "flatbed", "dpi": 300}})
    station.wait_idle(60)
    trigger = app.extensions["trigger"]
    time.sleep(trigger.debounce)  # the debounce window passing is the point: the next press counts
    assert trigger.press() is True  # the pedal
    assert trigger.press() is False  # a bounce of the same press
    station.wait_idle(60)
    assert len(client.get(f"/api/batches/{bid}").get_json()["pages"]) == 2
    audit = station.store.query("SELECT actor FROM audit WHERE batch_id = ? AND action = 'capture.trigger'", (bid,))
    assert audit == [{"actor": "op1"}]
    # once the hồ sơ is in finishing or later, the pedal does nothing to it
    station.store.transition(bid, "REVIEW", actor="op1")
    station.store.transition(bid, "FINISHING", actor="op1")
    time.sleep(trigger.debounce)  # as above: this press is outside the window, so only the state refuses it
    trigger.press()
    station.wait_idle(10)
    assert len(client.get(f"/api/batches/{bid}").get_json()["pages"]) == 2
