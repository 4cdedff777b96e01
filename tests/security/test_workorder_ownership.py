"""#14.1: a station moves only the work orders assigned to it; any other is refused (403) and logged, and
a package committed for a work order it no longer holds, or for another hồ sơ, leaves the order alone."""

from __future__ import annotations

import logging

from server.workorders.orders import assign


def _state(archive, wo_id: str) -> str:
    return archive.context.db.workorder(wo_id)["state"]


def test_other_stations_work_order_is_refused_and_logged(archive, caplog):
    other = archive.orders["st-a"]  # assigned to st-a (fonds P_UBND_DN); st-b's own is in fonds P_OTHER
    with caplog.at_level(logging.WARNING, logger="sohoa.server.ingest"):
        answer = archive.upload("st-b", b"not a package at all", work_order_id=other)
    assert answer["status"] == 403, answer
    assert _state(archive, other) == "assigned"
    assert any("st-b" in r.getMessage() and other in r.getMessage() for r in caplog.records)
    answer = archive.upload("st-b", b"not a package either", work_order_id="WO-DOES-NOT-EXIST")
    assert answer["status"] == 403


def test_own_work_order_moves(archive):
    own = archive.orders["st-b"]
    answer = archive.upload("st-b", b"garbage, so rejected", work_order_id=own)
    assert answer["status"] == 200 and answer["state"] == "rejected", answer
    assert _state(archive, own) == "rejected"


def test_reassigned_between_open_and_commit_is_left_alone(archive, make_package):
    import hashlib

    import requests

    from protocol import api

    wo = archive.orders["st-a"]
    package = make_package()
    data = package.path.read_bytes()
    opened = archive.open_upload("st-a", data, work_order_id=wo)
    assert opened.status_code == 201
    assign(archive.context.db, [wo], "st-b")  # the supervisor gives it to st-b meanwhile
    upload_id = opened.json()["upload_id"]
    headers = {**archive.station_headers("st-a"), api.HEADER_CHUNK_SHA256: hashlib.sha256(data).hexdigest()}
    assert requests.put(f"{archive.url}/api/v1/uploads/{upload_id}/chunks/0", data=data, headers=headers,
                        timeout=60).ok
    done = requests.post(f"{archive.url}/api/v1/uploads/{upload_id}/commit", headers=archive.station_headers("st-a"),
                         timeout=120).json()
    assert done["state"] == "rejected" and any("not assigned" in r for r in done["receipt"]["reasons"]), done
    assert _state(archive, wo) == "assigned"
    assert archive.context.db.workorder(wo)["station_id"] == "st-b"


def test_package_for_another_hoso_does_not_move_the_order(archive, make_package):
    wo = archive.orders["st-a"]  # for 000.00.00.H47.2001.160.VP
    package = make_package(notation="999.VP")
    answer = archive.upload("st-a", package.path.read_bytes(), work_order_id=wo)
    assert answer["state"] == "rejected", answer
    assert any("is for hồ sơ" in r for r in answer["receipt"]["reasons"]), answer["receipt"]["reasons"]
    assert _state(archive, wo) == "assigned"
    right = archive.upload("st-a", make_package().path.read_bytes(), work_order_id=wo)
    assert right["state"] == "accepted", right["receipt"]["reasons"]
    assert _state(archive, wo) == "accepted"
