"""#14.12 (uploads): a station holds a bounded number of unfinished uploads, a package may not be larger than
its work order can need, and abandoned uploads expire (partial file removed; the same package can be sent
again from the start). Real server over HTTP."""

from __future__ import annotations

import hashlib

import requests

from protocol import api
from server.ingest.api import MAX_OPEN_UPLOADS, PER_SHEET_BYTES, SIZE_SLACK


def _open(archive, station: str, n: int, size: int = 1000, **manifest) -> requests.Response:
    sha = hashlib.sha256(f"{station}-{n}".encode()).hexdigest().upper()
    return requests.post(archive.url + api.UPLOADS, json={"sha256": sha, "size": size, **manifest},
                         headers=archive.station_headers(station), timeout=10)


def test_open_uploads_are_capped_per_station(archive):
    for n in range(MAX_OPEN_UPLOADS):
        assert _open(archive, "st-a", n).status_code == 201
    again = _open(archive, "st-a", 0)  # resending a manifest is not a new upload
    assert again.status_code == 201
    refused = _open(archive, "st-a", 99)
    assert refused.status_code == 429 and "Retry-After" in refused.headers, refused.text
    assert _open(archive, "st-b", 0).status_code == 201  # another station is not affected


def test_package_size_is_bounded_by_its_work_order(archive):
    wo = archive.orders["st-a"]  # 1 expected sheet
    limit = PER_SHEET_BYTES + SIZE_SLACK
    assert _open(archive, "st-a", 1, size=limit + 1, work_order_id=wo).status_code == 413
    assert _open(archive, "st-a", 2, size=limit, work_order_id=wo).status_code == 201


def test_abandoned_uploads_expire_and_can_be_sent_again(archive):
    db = archive.context.db
    data = b"partial package bytes"
    sha = hashlib.sha256(data).hexdigest()
    opened = requests.post(archive.url + api.UPLOADS, json={"sha256": sha.upper(), "size": len(data) * 2},
                           headers=archive.station_headers("st-a"), timeout=10).json()
    upload_id = opened["upload_id"]
    headers = {**archive.station_headers("st-a"), api.HEADER_CHUNK_SHA256: sha}
    assert requests.put(f"{archive.url}/api/v1/uploads/{upload_id}/chunks/0", data=data, headers=headers,
                        timeout=10).status_code == 200
    part = archive.context.config.uploads_dir / f"{upload_id}.part"
    assert part.exists()
    with db.tx() as conn:  # three days without a chunk
        conn.execute("UPDATE uploads SET updated_at = '2020-01-01T00:00:00.000+07:00' WHERE id = ?", (upload_id,))
    for n in range(MAX_OPEN_UPLOADS - 1):
        assert _open(archive, "st-a", n).status_code == 201
    assert _open(archive, "st-a", 50).status_code == 201  # the stale one expired and made room
    assert db.upload(upload_id)["state"] == "expired" and not part.exists()
    back = requests.post(archive.url + api.UPLOADS, json={"sha256": sha.upper(), "size": len(data) * 2},
                         headers=archive.station_headers("st-a"), timeout=10)
    assert back.status_code == 429  # the cap still holds for a returning package
    with db.tx() as conn:
        conn.execute("UPDATE uploads SET state = 'rejected' WHERE station_id = 'st-a' AND id != ?", (upload_id,))
    back = requests.post(archive.url + api.UPLOADS, json={"sha256": sha.upper(), "size": len(data) * 2},
                         headers=archive.station_headers("st-a"), timeout=10)
    assert back.status_code == 201 and back.json()["upload_id"] == upload_id
    assert back.json()["state"] == "open" and back.json()["received"] == 0
