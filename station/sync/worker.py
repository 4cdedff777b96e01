"""The sync worker: drains the outbox whenever the server is reachable, with backoff."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from protocol.api import Receipt
from station.store import Batch, BatchState, Store
from station.sync.client import SyncClient, SyncError
from station.sync.space import disk_full

log = logging.getLogger("sohoa.station.sync")


class SyncWorker:
    def __init__(self, store: Store, client: SyncClient, data_dir: Path, *, interval: float = 5.0,
                 on_receipt: Callable[[Batch, Receipt], None] | None = None,
                 before_pass: Callable[[], object] | None = None,
                 rework: Callable[[], object] | None = None):
        self.store = store
        self.client = client
        self.data_dir = data_dir
        self.interval = interval
        self.on_receipt = on_receipt
        self.before_pass = before_pass
        self.rework = rework  # fetches the archive's rework list (station.sync.rework.refresh) on every pass
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sohoa-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        """The worker's thread is running (the service's watchdog checks it)."""
        return self._thread is not None and self._thread.is_alive()

    def kick(self) -> None:
        """Run a pass now (a package was sealed, or the archive announced a rework decision over MQTT)."""
        self._wake.set()

    def _run(self) -> None:
        backoff = self.interval
        while not self._stop.is_set():
            if self.before_pass:
                try:
                    self.before_pass()
                except Exception:  # e.g. the server is unreachable: the cached state stays as it was
                    log.warning("sync: refresh before the pass failed", exc_info=True)
            if self.rework:
                try:
                    self.rework()
                except Exception:  # unreachable: the list saved on disk stays what the UI shows
                    log.warning("sync: rework list not fetched", exc_info=True)
            try:
                ok = self.drain_once()
                backoff = self.interval if ok else min(backoff * 2, 300)
            except Exception:  # the worker must outlive any single bad item
                log.exception("sync pass failed")
                backoff = min(backoff * 2, 300)
            self._wake.wait(backoff)
            self._wake.clear()

    def drain_once(self) -> bool:
        """Send every queued package once; False when something must be retried later."""
        all_ok = True
        for item in self.store.outbox(states=("queued", "sending")):
            try:
                if not self._send(item):
                    all_ok = False
            except Exception as exc:
                if not disk_full(exc):
                    raise
                # Nothing was recorded (one transaction per step): the package stays queued, and the server
                # answers the next attempt with the receipt it already issued, so it is stored only once.
                log.error("station disk full: batch %s not recorded as sent (%s); retrying once space is freed",
                          item["batch_id"], exc, extra={"batch": item["batch_id"], "package": item["package_path"]})
                all_ok = False
        return all_ok

    def _send(self, item: dict) -> bool:
        """Send one queued package and record the server's receipt; False when it must be retried."""
        batch = self.store.batch(item["batch_id"])
        if batch["state"] == BatchState.SEALED:
            self.store.transition(batch["id"], BatchState.SYNCING, actor="sync")
        try:
            receipt = self.client.send(
                self.data_dir / item["package_path"], sha256=item["sha256"], size=item["size"],
                manifest={"file_code": batch["file_code"], "batch_uid": batch["uid"],
                          "work_order_id": batch["work_order_id"],
                          "expected_sheets": batch["expected_sheets"]},
            )
        except SyncError as exc:
            log.warning("sync of batch %s failed: %s", batch["id"], exc,
                        extra={"batch": batch["id"], "file_code": batch["file_code"]})
            self.store.outbox_attempt(item["id"], error=str(exc))
            return False
        self.store.outbox_done(item["id"], accepted=receipt.verdict == "accepted", receipt=receipt.to_dict())
        log.info("batch %s: server %s package %s", batch["id"], receipt.verdict, receipt.objid,
                 extra={"batch": batch["id"], "file_code": batch["file_code"], "package": receipt.objid})
        if self.on_receipt:
            self.on_receipt(batch, receipt)
        return True
