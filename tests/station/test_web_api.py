"""The review/document/finish API on a real station with the SANE test scanner."""

from __future__ import annotations

import time

from station.processing.pipeline import flag
from tests.support.records import hoso_record
from tests.support.web import admin_headers, login


def _client(station):  # noqa: ANN001, F811
    from station.web.app import create_app

    client = create_app(station).test_client()
    tok = login(client, "op1")["token"]
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {tok}"
    return client


def _scanned_batch(client, station, sheets_expected: int = 10) -> int:  # noqa: F811
    batch = client.post("/api/batches", json={"record": hoso_record(), "expected_sheets": sheets_expected},
                      headers=admin_headers(client)).get_json()
    resp = client.post(f"/api/batches/{batch['id']}/scan",
                       json={"kind": "sane", "request": {"source": "flatbed", "dpi": 300, "mode": "color"}})
    assert resp.status_code == 202, resp.get_json()
    station.wait_idle(120)
    return batch["id"]


def test_review_actions_and_finish_gate(station):  # noqa: F811
    client = _client(station)
    bid = _scanned_batch(client, station)
    client.post(f"/api/batches/{bid}/scan", json={"kind": "sane", "request": {"source": "flatbed", "dpi": 300}})
    station.wait_idle(120)
    assert client.post(f"/api/batches/{bid}/review").status_code == 200
    view = client.get(f"/api/batches/{bid}").get_json()
    a, b = [p["id"] for p in view["pages"]]
    assert client.post(f"/api/pages/{a}/rotate", json={"by": 90}).get_json() == {"rotation": 90}
    assert client.post(f"/api/batches/{bid}/move", json={"page_ids": [b], "after": None}).get_json()["order"] == [b, a]
    assert client.post(f"/api/pages/{a}/delete").status_code == 200
    view = client.get(f"/api/batches/{bid}").get_json()
    assert [p["id"] for p in view["pages"]] == [b] and [p["id"] for p in view["deleted_pages"]] == [a]
    assert client.post(f"/api/pages/{a}/restore").status_code == 200
    thumb = client.get(f"/api/pages/{a}/image?thumb=1")
    assert thumb.status_code == 200 and thumb.data[:2] == b"\xff\xd8"
    # a flag nobody accepted blocks finishing; the 409 names the page
    station.store.set_processing(a, result={}, derivative_path="", derivative_sha256="", blank=False,
                                 flags=[flag("blurry", "blurred")])
    resp = client.post(f"/api/batches/{bid}/finish")
    assert resp.status_code == 409 and resp.get_json()["error"] == "unresolved_flags"
    assert resp.get_json()["pages"][0]["page_id"] == a
    assert client.post(f"/api/batches/{bid}/override", json={"reason": "x"}).status_code == 403  # operator
    assert client.post(f"/api/pages/{a}/accept").status_code == 200
    assert client.get(f"/api/batches/{bid}").get_json()["unresolved"] == []
    audit = station.store.query("SELECT actor, action FROM audit WHERE batch_id = ? AND action LIKE 'page%'", (bid,))
    assert {"actor": "op1", "action": "page.accept_flags"} in audit


def test_documents_are_validated_field_by_field(station):  # noqa: F811
    client = _client(station)
    bid = _scanned_batch(client, station)
    client.post(f"/api/batches/{bid}/review")
    pid = client.get(f"/api/batches/{bid}").get_json()["pages"][0]["id"]
    bad = {"ordinal": 1, "record": {"ordinal": 1, "type_name": "99", "issued_date": "31/02/2001",
                                    "organ_name": "", "subject": "Quyết định", "page_ids": [pid]}}
    resp = client.post(f"/api/batches/{bid}/documents?check=1", json={"documents": [bad]})
    assert resp.status_code == 422
    fields = {p["field"]: p["text"] for p in resp.get_json()["problems"]}
    assert {"type_name", "issued_date", "organ_name"} <= set(fields)
    assert all(fields.values())
    good = {"ordinal": 1, "record": {**bad["record"], "type_name": "02", "issued_date": "28/02/2001",
                                     "organ_name": "UBND tỉnh Đồng Nai"}}
    assert client.post(f"/api/batches/{bid}/documents?check=1", json={"documents": [good]}).status_code == 200
    assert station.store.documents(bid)[0]["record"]["type_name"] == "02"
    resp = client.put(f"/api/batches/{bid}/record", json={"record": {"start_date": "2001-03-04"}})
    assert resp.status_code == 422 and resp.get_json()["problems"][0]["field"] == "start_date"
    assert client.put(f"/api/batches/{bid}/record", json={"record": {"keyword": "đất đai"}}).status_code == 200
    assert station.store.batch(bid)["record"]["keyword"] == "đất đai"


def test_events_stream_sends_the_batch(station):  # noqa: F811
    client = _client(station)
    bid = _scanned_batch(client, station)
    resp = client.get(f"/api/batches/{bid}/events", buffered=False)
    assert resp.mimetype == "text/event-stream"
    t0 = time.monotonic()
    chunks = b""
    for chunk in resp.response:
        chunks += chunk if isinstance(chunk, bytes) else chunk.encode()
        if b"event: batch" in chunks or time.monotonic() - t0 > 10:
            break
    resp.close()
    assert b"event: batch" in chunks and b'"file_code"' in chunks


def test_errors_are_json_with_vietnamese_never_a_trace(station):  # noqa: F811
    client = _client(station)
    resp = client.get("/api/batches/999")
    assert resp.status_code == 404 and resp.get_json()["text"]
    resp = client.post("/api/batches/999/scan", json={"kind": "floppy"})
    assert resp.status_code == 400 and "Traceback" not in resp.get_data(as_text=True)
    page = client.get("/batch/999/review")
    assert page.status_code == 404 and "Không tìm thấy" in page.get_data(as_text=True)
    status = client.get("/api/status").get_json()
    assert "health" in status and status["health"]["disk_free"] > 0
