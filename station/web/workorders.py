"""The work orders a station is offered: the server's open list, kept on disk so that a station that
cannot reach the server can still start the work it was given, and checked against the hồ sơ already
scanned here (a work order with a batch being finished or sent is not offered again; one being scanned
or reviewed is continued, not started twice)."""

from __future__ import annotations

import json
from typing import Any

from protocol.api import WorkOrder
from protocol.clock import iso_vn
from protocol.durable import write_atomic

CACHE = "workorders.json"
DONE_HERE = ("FINISHING", "SEALED", "SYNCING")  # on its way to the archive: not offered (once
# accepted the server no longer lists it; listed again after that, an administrator reopened it)
CONTINUE = ("OPEN", "REVIEW", "REJECTED")  # a batch exists: the work order opens it


def offered(station: Any) -> dict[str, Any]:
    """{"workorders": [...], "cached_at": None or when the list was fetched}, the JSON of the work-order
    screen: each work order (protocol.api.WorkOrder) with "batch": {"id", "state"} when this station already
    has a batch for it. Raises the SyncError when the
    server does not answer and there is no saved list."""
    from station.sync.client import SyncError

    path = station.config.data_dir / CACHE
    try:
        rows = station.sync_client.workorders()
        listing = {"fetched_at": iso_vn(), "workorders": [w.to_dict() for w in rows]}
        write_atomic(path, json.dumps(listing, ensure_ascii=False).encode())
        cached_at = None
    except SyncError:
        if not path.exists():
            raise
        saved = json.loads(path.read_text(encoding="utf-8"))
        rows, cached_at = [WorkOrder.from_dict(w) for w in saved["workorders"]], saved["fetched_at"]
    local: dict[str, dict] = {}
    for b in station.store.query("SELECT id, state, work_order_id FROM batches WHERE work_order_id IS NOT NULL"
                                 " ORDER BY id"):
        local[b["work_order_id"]] = {"id": b["id"], "state": b["state"]}  # the latest batch of each
    out = []
    for wo in rows:
        batch = local.get(wo.id)
        if batch and batch["state"] in DONE_HERE:
            continue
        out.append({**wo.to_dict(), "batch": batch if batch and batch["state"] in CONTINUE else None})
    return {"workorders": out, "cached_at": cached_at}
