"""The station's side of the rework loop against the real server: the sync worker fetches the archive's list
(on its pass, and at once when kicked as the MQTT notice does) and keeps it on disk, atomically, for offline
use; reopening a sent batch places the defects on this station's pages and makes the next package the new
version of the stored one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from server.archive import decisions
from station.store import BatchState, Store
from station.sync import rework
from station.sync.client import SyncClient, SyncError
from station.sync.worker import SyncWorker
from tests.support.wait import wait_until

FILE_CODE = "000.00.00.H47.2001.160.VP"


def _sent_batch(tmp_path: Path, pkg, url: str, creds: dict) -> tuple[Store, Path, dict, SyncClient]:
    """A batch of 3 pages in 2 documents whose package the real server accepted (SYNCED)."""
    data = tmp_path / "station"
    (data / "packages").mkdir(parents=True)
    shutil.copy(pkg.path, data / "packages" / pkg.path.name)
    store = Store(data / "station.db")
    batch = store.create_batch(file_code=FILE_CODE, record={"title": "Hồ sơ thử"}, expected_sheets=1,
                               work_order_id=None, operator="op1")
    pages = [store.add_page({"batch_id": batch["id"], "seq": n, "sheet": n, "side": "front", "source": "test",
                             "device": "test:0", "path": f"p{n}.png", "sha256": f"{n:064X}", "width": 10,
                             "height": 10, "dpi": 300.0, "captured_at": "2026-12-04T08:00:00.000+07:00"},
                            actor="op1") for n in (1, 2, 3)]
    store.set_documents(batch["id"], [{"ordinal": 1, "record": {"ordinal": 1, "page_ids": pages[:2]}},
                                      {"ordinal": 2, "record": {"ordinal": 2, "page_ids": pages[2:]}}], actor="op1")
    store.transition(batch["id"], BatchState.REVIEW, actor="op1")
    store.transition(batch["id"], BatchState.FINISHING, actor="op1")
    store.enqueue_package(batch["id"], package_path=f"packages/{pkg.path.name}", sha256=pkg.sha256,
                          size=pkg.size, actor="op1")
    client = SyncClient(url, station_id=creds["station_id"], token=creds["token"], timeout=10)
    assert SyncWorker(store, client, data).drain_once()
    return store, data, store.batch(batch["id"]), client


def test_worker_fetches_keeps_and_reopens(archive_server, make_package, tmp_path):
    live, context = archive_server
    creds = context.db.add_station("tram-01")
    pkg = make_package()
    store, data, batch, client = _sent_batch(tmp_path, pkg, live.url, creds)
    assert batch["state"] == BatchState.SYNCED
    cache = rework.ReworkCache(data)
    worker = SyncWorker(store, client, data, interval=300, rework=lambda: rework.refresh(client, cache))
    worker.start()
    try:
        saved = wait_until(lambda: cache.path.exists() and cache.load(), 10, "the first pass, at start")
        assert saved["rework"] == [] and saved["fetched_at"]
        defects = [
            {"class": "major", "kind": "unreadable", "objid": pkg.objid, "doc_id": f"{FILE_CODE}.2", "page": 1,
             "note": "Trang mờ"},
            {"class": "major", "kind": "wrong_orientation", "objid": pkg.objid, "doc_id": f"{FILE_CODE}.1",
             "page": 2, "note": "Trang bị ngược"},
            {"class": "major", "kind": "wrong_metadata", "objid": pkg.objid, "doc_id": None, "page": None,
             "note": "Sai tiêu đề"},
        ]
        did = decisions.propose(context.db, lot="L1", objids=[pkg.objid], decision="return", defects=defects,
                                inspector="kiem.tra", address="127.0.0.1")
        decisions.validate(context.db, did, validator="truong.phong", makers={"op1"}, address="127.0.0.1")
        worker.kick()  # what the MQTT notice does; the 300 s interval would not come round in this test
        saved = wait_until(lambda: cache.load()["rework"] and cache.load(), 10, "the returned hồ sơ on the saved list")
    finally:
        worker.stop()
    [item] = saved["rework"]
    assert (item["objid"], item["batch_uid"], item["version"]) == (pkg.objid, batch["uid"], 1)
    on_disk = json.loads(cache.path.read_text(encoding="utf-8"))
    assert on_disk["rework"][0]["defects"][0]["note"] == "Trang mờ"
    assert not list(data.glob(".rework.json*")) and not list(data.glob("rework.json.*")), "no temp file left"

    # Offline: the fetch fails, the saved list stays; an unreadable file is ignored, never a crash.
    with pytest.raises(SyncError):
        rework.refresh(SyncClient("http://127.0.0.1:9", station_id="tram-01", token="x", timeout=2), cache)
    assert cache.load()["rework"] == saved["rework"]

    # A station that no longer has the pages can fetch the stored package; another station cannot.
    got = client.rework_package(pkg.objid, data / "rework")
    assert got.read_bytes() == pkg.path.read_bytes() and got.name == f"{pkg.sha256}.zip"
    other = context.db.add_station("tram-02")
    with pytest.raises(SyncError) as refused:
        SyncClient(live.url, station_id="tram-02", token=other["token"]).rework_package(pkg.objid, tmp_path / "x")
    assert refused.value.status == 404 and not (tmp_path / "x").exists()

    # Reopening: the sent batch goes back to review with each defect on the station's page it concerns.
    pages = [p["id"] for p in store.pages(batch["id"])]
    again = rework.reopen(store, item, actor="op1")
    assert again["state"] == BatchState.REVIEW
    row = rework.reopened(store, batch["id"])
    assert [d["page_id"] for d in row["defects"]] == [pages[2], pages[1], None]
    assert rework.reopen(store, item, actor="op1")["id"] == batch["id"]  # a second tap changes nothing
    args = rework.version_args(store, batch["id"])
    assert args["status"] == "REPLACEMENT" and args["previous"] == {"sha256": pkg.sha256, "version": 1}
    assert pkg.objid.endswith("uuid-" + args["package_uuid"])
    assert rework.version_args(store, 10_000) == {}
    store.transition(batch["id"], BatchState.FINISHING, actor="op1")
    with pytest.raises(rework.ReworkError) as refused:
        rework.reopen(store, dict(item, sha256="0" * 64), actor="op1")
    assert "chưa mở lại được" in refused.value.text("vi")

    cache.path.write_text("{not json", encoding="utf-8")
    assert rework.ReworkCache(data).load() == {"rework": [], "outcomes": [], "fetched_at": None}
