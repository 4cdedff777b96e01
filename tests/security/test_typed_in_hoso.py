"""#14.2: an operator cannot open a hồ sơ of their own making by naming a work order that does not exist:
the hồ sơ of a work order comes from the server's list for this station, a typed-in one needs an admin."""

from __future__ import annotations

from tests.support.records import hoso_record


def test_unknown_work_order_is_refused(linked_web, archive):
    op = linked_web.login("op1")
    before = len(linked_web.station.store.batches())
    forged = hoso_record(title="Hồ sơ bịa ra", notation="999.VP")
    for wo in ("WO-DOES-NOT-EXIST", archive.orders["st-b"]):  # unknown, and another station's
        resp = op.post(linked_web.url + "/api/batches", json={"record": forged, "work_order_id": wo}, timeout=30)
        assert resp.status_code == 404 and resp.json()["error"] == "unknown_workorder", resp.text
        assert "máy chủ" in resp.json()["text"]
    resp = op.post(linked_web.url + "/api/batches", json={"record": forged}, timeout=30)
    assert resp.status_code == 403
    assert len(linked_web.station.store.batches()) == before


def test_real_work_order_opens_with_the_servers_hoso(linked_web, archive):
    op = linked_web.login("op1")
    wo = archive.orders["st-a"]
    resp = op.post(linked_web.url + "/api/batches", timeout=30,
                   json={"record": hoso_record(title="Tiêu đề sửa tay"), "work_order_id": wo})
    assert resp.status_code == 201, resp.text
    batch = linked_web.station.store.batch(resp.json()["id"])
    assert batch["work_order_id"] == wo and batch["record"]["title"] == "Hồ sơ A"  # the server's record


def test_admin_may_type_one_in(station_web):
    adm = station_web.login("adm1")
    resp = adm.post(station_web.url + "/api/batches", json={"record": hoso_record()}, timeout=30)
    assert resp.status_code == 201, resp.text
