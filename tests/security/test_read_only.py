"""#14.12 (data): a hồ sơ whose package is built or sent is read-only on the station, whatever endpoint is
tried, with a clear Vietnamese message; before sealing it can still be changed."""

from __future__ import annotations

import pytest

from station.store import BatchState, ReadOnlyError
from tests.support.records import hoso_record

PATH = ["REVIEW", "FINISHING", "SEALED", "SYNCING", "SYNCED"]


def _batch_in(web, state: str) -> int:
    adm = web.login("adm1")
    bid = adm.post(web.url + "/api/batches", json={"record": hoso_record()}, timeout=30).json()["id"]
    store = web.station.store
    for step in PATH[: PATH.index(state) + 1]:
        store.transition(bid, BatchState(step), actor="test")
    return bid


@pytest.mark.parametrize("state", ["SEALED", "SYNCED"])
def test_sealed_or_synced_batch_refuses_every_change(station_web, state):
    bid = _batch_in(station_web, state)
    before = station_web.station.store.batch(bid)["record"]
    adm = station_web.login("adm1")
    attempts = [
        ("PUT", f"/api/batches/{bid}/record", {"record": {"title": "Tiêu đề bị sửa"}}),
        ("POST", f"/api/batches/{bid}/documents", {"documents": [{"record": {}, "page_ids": []}]}),
        ("POST", f"/api/batches/{bid}/scan", {"kind": "sane"}),
        ("POST", f"/api/batches/{bid}/reorder", {"order": []}),
        ("POST", f"/api/batches/{bid}/override", {"reason": "x"}),
        ("POST", f"/api/batches/{bid}/review", {}),
    ]
    for method, path, body in attempts:
        resp = adm.request(method, station_web.url + path, json=body, timeout=30)
        assert resp.status_code == 409 and resp.json()["error"] == "read_only", (path, resp.text)
        assert "chỉ được xem" in resp.json()["text"]
    assert station_web.station.store.batch(bid)["record"] == before
    with pytest.raises(ReadOnlyError):  # the store refuses too, not only the web API
        station_web.station.store.update_record(bid, {"title": "x"}, actor="test")


def test_batch_in_review_can_still_be_changed(station_web):
    bid = _batch_in(station_web, "REVIEW")
    adm = station_web.login("adm1")
    resp = adm.put(station_web.url + f"/api/batches/{bid}/record", json={"record": {"title": "Tiêu đề mới"}},
                   timeout=30)
    assert resp.status_code == 200, resp.text
    assert station_web.station.store.batch(bid)["record"]["title"] == "Tiêu đề mới"
