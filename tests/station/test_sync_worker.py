"""The station's sync worker against the real server: a station process killed with SIGKILL mid-upload
resumes where the server says it stopped; the queue survives offline periods; the batch reaches SYNCED."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from station.store import BatchState, Store
from station.sync.client import SyncClient
from station.sync.worker import SyncWorker
from tests.support.wait import wait_until

FILE_CODE = "000.00.00.H47.2001.160.VP"

UPLOADER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from station.store import Store
    from station.sync.client import SyncClient
    from station.sync.worker import SyncWorker
    cfg = json.loads(sys.argv[1])
    client = SyncClient(cfg["url"], station_id=cfg["station_id"], token=cfg["token"], chunk_size=16384,
                        max_rate=100_000)
    SyncWorker(Store(cfg["db"]), client, Path(cfg["data"])).drain_once()
""")


def _queued_store(tmp_path: Path, pkg) -> tuple[Store, Path, int]:
    data = tmp_path / "station"
    (data / "packages").mkdir(parents=True)
    shutil.copy(pkg.path, data / "packages" / pkg.path.name)
    store = Store(data / "station.db")
    batch = store.create_batch(file_code=FILE_CODE, record={}, expected_sheets=1, work_order_id=None,
                               operator="op1")
    store.transition(batch["id"], BatchState.REVIEW, actor="op1")
    store.transition(batch["id"], BatchState.FINISHING, actor="op1")
    item = store.enqueue_package(batch["id"], package_path=f"packages/{pkg.path.name}", sha256=pkg.sha256,
                                 size=pkg.size, actor="op1")
    return store, data, item


def test_station_killed_mid_upload_resumes_and_syncs(server_process, make_package, tmp_path):
    creds = server_process.add_station("tram-01")
    server_process.start()
    pkg = make_package()
    store, data, item = _queued_store(tmp_path, pkg)
    cfg = {"url": server_process.url, "station_id": "tram-01", "token": creds["token"],
           "db": str(data / "station.db"), "data": str(data)}
    uploader = subprocess.Popen([sys.executable, "-c", UPLOADER, json.dumps(cfg)])
    parts = server_process.data_dir / "uploads"
    def half_sent() -> bool:
        found = list(parts.glob("*.part"))
        assert uploader.poll() is None, "the uploader finished before it could be killed: slow it down"
        return bool(found) and found[0].stat().st_size >= 64_000

    wait_until(half_sent, 30, "part of the upload on the server", interval=0.01)
    uploader.send_signal(signal.SIGKILL)
    assert uploader.wait(timeout=10) == -9
    assert store.batch(store.outbox_item(item)["batch_id"])["state"] == BatchState.SYNCING
    assert store.outbox_item(item)["state"] == "queued", "the queue entry must survive the crash"

    client = SyncClient(server_process.url, station_id="tram-01", token=creds["token"], timeout=10)
    offsets: list[int] = []
    client.session.hooks["response"].append(
        lambda resp, *a, **k: offsets.append(int(resp.request.url.rsplit("/", 1)[1]))
        if resp.request.method == "PUT" else None)
    receipts: list[dict] = []
    worker = SyncWorker(store, client, data, on_receipt=lambda batch, receipt: receipts.append(receipt))
    assert worker.drain_once()
    done = store.outbox_item(item)
    assert done["state"] == "accepted" and json.loads(done["receipt"])["verdict"] == "accepted"
    assert store.batch(done["batch_id"])["state"] == BatchState.SYNCED
    assert offsets and offsets[0] >= 16384, f"restarted from scratch: {offsets}"
    assert len(receipts) == 1
    assert worker.drain_once() and len(receipts) == 1, "a synced package is never sent again"


def test_offline_queue_drains_when_the_server_returns(server_process, make_package, tmp_path):
    creds = server_process.add_station("tram-01")
    pkg = make_package()
    store, data, item = _queued_store(tmp_path, pkg)
    # a refused connection fails at once whatever the timeout; 2 s read timeouts failed on a loaded machine
    client = SyncClient(server_process.url, station_id="tram-01", token=creds["token"], timeout=30)
    worker = SyncWorker(store, client, data)
    assert not worker.drain_once()  # the server is not running: nothing lost, tried again later
    row = store.outbox_item(item)
    assert row["state"] == "queued" and row["attempts"] == 1 and "unreachable" in row["last_error"]
    server_process.start()
    assert worker.drain_once()
    assert store.outbox_item(item)["state"] == "accepted"


def test_bandwidth_limit_is_kept(archive_server, make_package):
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    pkg = make_package()
    rate = 400_000  # bytes per second
    client = SyncClient(live.url, station_id="tram-01", token=creds["token"], timeout=10, max_rate=rate)
    started = time.monotonic()
    receipt = client.send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})
    elapsed = time.monotonic() - started
    assert receipt.verdict == "accepted", receipt.reasons
    assert elapsed >= pkg.size / rate * 0.9, f"{pkg.size} bytes in {elapsed:.2f} s: faster than {rate} B/s"
    assert client.chunk_size <= rate
