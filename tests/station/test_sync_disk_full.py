"""The station's disk fills up while a hồ sơ is sealed and queued, and while its receipt is recorded (issue #6),
on a real small filesystem (a tmpfs the test mounts) against the real server: a clear error, nothing partial
in the queue, the batch stays finishable, and once space is freed the package is built, synced and stored
by the server exactly once."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.finishing import Finisher, FinishError
from station.store import BatchState
from station.sync.client import SyncClient
from station.sync.worker import SyncWorker

AGENCY = "Ủy ban nhân dân tỉnh Đồng Nai"
MB = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    assert done.returncode == 0, f"this test mounts a 96 MB tmpfs and needs root: {done.stderr.strip()}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a filler file until the filesystem refuses more (ENOSPC); return it (delete it to free space)."""
    filler = disk / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # unbuffered: every ENOSPC seen here
    try:
        for block in (b"\0" * MB, b"\0" * 4096):
            while True:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    finally:
        os.close(fd)
    return filler


@pytest.fixture
def station(small_disk: Path, demo_keys):
    from station.config import StationConfig
    from station.service import Station

    config = StationConfig(
        data_dir=small_disk / "station",
        workers=1,
        agency_name=AGENCY,
        min_free_mb=16,
        signing_p12=demo_keys.agency_p12,
        signing_passphrase_file=demo_keys.passphrase_file,
    )
    st = Station(config)
    st.start()
    yield st
    st.stop()


def _reviewed_batch(station) -> dict:
    from sohoa.samplepages import write_sample_folder
    from tests.support.records import hoso_record

    folder = station.config.data_dir / "import" / "p"
    write_sample_folder(folder, count=1, seed=11, dpi=200)
    batch = station.open_batch(record=hoso_record(), expected_sheets=1, work_order_id=None, operator="op1")
    station.scan(batch["id"], kind="import", options={"folder": folder}, request={}, actor="op1")
    station.wait_idle(120)
    station.to_review(batch["id"], actor="op1")
    assert station.pool.drain(timeout=300)
    [page] = station.store.pages(batch["id"])
    record = {
        "ordinal": 1,
        "type_name": "02",
        "issued_date": "04/03/2001",
        "organ_name": AGENCY,
        "subject": "Quyết định về việc cấp giấy chứng nhận",
        "page_ids": [page["id"]],
    }
    station.set_documents(batch["id"], [{"ordinal": 1, "record": record}], actor="op1")
    return batch


def _truncate_wal(station) -> None:
    # As after a restart: an empty WAL, so the next commit must grow the file (a full disk cannot).
    station.store.query("PRAGMA wal_checkpoint(TRUNCATE)")


def test_disk_full_while_sealing_and_recording_the_receipt(station, small_disk: Path, archive_server, caplog):
    live, server = archive_server
    data = station.config.data_dir
    batch = _reviewed_batch(station)
    filler: list[Path] = []

    def on_progress(step: str, info: dict) -> None:
        if step == "package" and not filler:  # documents signed; the package is about to be written
            filler.append(fill(small_disk))

    finisher = Finisher(
        station.store,
        data,
        signer=station.signer(),
        agency_name=AGENCY,
        workers=1,
        station_id="tram-01",
        on_progress=on_progress,
    )
    with pytest.raises(FinishError) as err:
        finisher.finish(batch["id"], actor="op1")
    assert "disk is full" in str(err.value) and "Ổ đĩa của trạm đã đầy" in err.value.text("vi")
    assert filler, "the disk was never filled: the test did not test anything"
    assert station.store.outbox(states=("queued", "sending", "accepted")) == [], "nothing may be queued"
    assert not list((data / "packages").glob("*")), "no partial or orphan package may be left"
    assert station.store.batch(batch["id"])["state"] in (BatchState.REVIEW, BatchState.FINISHING)

    filler.pop().unlink()  # the operator frees space
    filler.append(data)  # never fill again
    sealed = finisher.finish(batch["id"], actor="op1")
    assert station.store.batch(batch["id"])["state"] == BatchState.SEALED
    [item] = station.store.outbox()
    assert data / item["package_path"] == sealed.package_path and sealed.package_path.is_file()

    creds = server.db.add_station("tram-01")
    client = SyncClient(live.url, station_id="tram-01", token=creds["token"], timeout=30)
    worker = SyncWorker(station.store, client, data)

    # Full before the pass: not even "syncing" can be recorded; nothing is sent, nothing is lost.
    _truncate_wal(station)
    full = fill(small_disk)
    with caplog.at_level(logging.ERROR, logger="sohoa.station.sync"):
        assert not worker.drain_once()
    assert "station disk full" in caplog.text
    assert station.store.batch(batch["id"])["state"] == BatchState.SEALED
    full.unlink()

    # Full when the server's receipt comes back: the server has stored it, the station could not record it.
    commits: list[str] = []

    def fill_on_commit(resp, *args, **kwargs):
        if resp.request.method == "POST" and resp.request.url.endswith("/commit"):
            commits.append(resp.request.url)
            _truncate_wal(station)
            fill(small_disk)
        return resp

    client.session.hooks["response"].append(fill_on_commit)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="sohoa.station.sync"):
        assert not worker.drain_once()
    assert len(commits) == 1 and "station disk full" in caplog.text
    client.session.hooks["response"].remove(fill_on_commit)
    row = station.store.outbox_item(item["id"])
    assert row["state"] == "queued" and row["receipt"] is None, "a receipt that was not stored is not half-stored"
    assert station.store.batch(batch["id"])["state"] == BatchState.SYNCING

    (small_disk / "filler.bin").unlink()
    assert worker.drain_once()
    row = station.store.outbox_item(item["id"])
    receipt = json.loads(row["receipt"])
    assert row["state"] == "accepted" and receipt["verdict"] == "accepted"
    assert station.store.batch(batch["id"])["state"] == BatchState.SYNCED
    assert len(commits) == 1, "the second pass got the receipt the server had already issued"
    ledger = (server.config.store_dir / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(ledger) == 1 and json.loads(ledger[0])["sha256"] == item["sha256"], "stored exactly once"
