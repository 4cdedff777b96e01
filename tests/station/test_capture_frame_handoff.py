"""The captured frame reaches the processing pool in memory: the station does not decode the PNG it just wrote."""

from __future__ import annotations

import cv2
import numpy as np

from tests.support.records import hoso_record
from tests.support.wait import wait_until
from tests.support.web import admin_headers, login


def test_live_scans_are_processed_from_the_captured_frame(station):  # noqa: F811
    from station.web.app import create_app

    client = create_app(station).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {login(client, 'op1')['token']}"
    batch = client.post("/api/batches", json={"record": hoso_record(), "expected_sheets": 1},
                      headers=admin_headers(client)).get_json()
    frames: list[dict] = []
    plain: list[dict] = []
    station.capture.add_listener(on_page=frames.append, with_frame=True)
    station.capture.add_listener(on_page=plain.append)
    resp = client.post(f"/api/batches/{batch['id']}/scan",
                       json={"kind": "sane", "request": {"source": "flatbed", "dpi": 300, "mode": "color"}})
    assert resp.status_code == 202, resp.get_json()
    station.wait_idle(120)
    station.capture.flush()  # every page event delivered (so submitted to the pool)
    wait_until(lambda: all(p["processed_at"] for p in station.store.pages(batch["id"])), 120, "the page processed",
               interval=0.2)

    pages = station.store.pages(batch["id"])
    assert len(pages) == 1 and pages[0]["processed_at"] is not None
    assert pages[0]["processing"]["input"] == "frame"  # the pool took the frame from shared memory
    # Only listeners that asked get the 26 MB array; it is exactly the image the journal stored.
    assert "image" not in plain[0] and plain[0]["id"] == pages[0]["id"]
    stored = cv2.cvtColor(cv2.imread(str(station.config.data_dir / pages[0]["path"])), cv2.COLOR_BGR2RGB)
    assert np.array_equal(frames[0]["image"], stored)
