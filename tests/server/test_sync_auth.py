"""Station isolation and authentication: another station's upload does not exist for you (status, chunk,
commit), a revoked station is refused from its very next request, malformed manifests are 400s."""

from __future__ import annotations

import hashlib

import pytest
import requests

from protocol import api
from station.sync.client import SyncClient, SyncError


def _headers(creds: dict) -> dict[str, str]:
    return {api.HEADER_STATION: creds["station_id"], "Authorization": f"Bearer {creds['token']}"}


@pytest.fixture
def two_stations(archive_server, make_package):
    live, ctx = archive_server
    a, b = ctx.db.add_station("tram-01"), ctx.db.add_station("tram-02")
    pkg = make_package()
    data = pkg.path.read_bytes()
    opened = requests.post(live.url + api.UPLOADS, json={"sha256": pkg.sha256, "size": pkg.size},
                           headers=_headers(a), timeout=10).json()
    return live, ctx, a, b, pkg, data, opened["upload_id"]


def test_other_station_cannot_write_a_chunk(two_stations):
    live, ctx, a, b, pkg, data, upload_id = two_stations
    chunk = data[:1000]
    resp = requests.put(live.url + api.UPLOAD_CHUNK(upload_id, 0), data=chunk, timeout=10,
                        headers={**_headers(b), api.HEADER_CHUNK_SHA256: hashlib.sha256(chunk).hexdigest()})
    assert resp.status_code == 404 and resp.json()["error"] == api.ErrorCode.NOT_FOUND
    assert ctx.db.upload(upload_id)["received"] == 0
    assert not list(ctx.config.uploads_dir.glob("*.part")), "nothing may be written for the intruder"
    # Positive control: the same chunk from the owner is written, and the same two probes see it.
    resp = requests.put(live.url + api.UPLOAD_CHUNK(upload_id, 0), data=chunk, timeout=10,
                        headers={**_headers(a), api.HEADER_CHUNK_SHA256: hashlib.sha256(chunk).hexdigest()})
    assert resp.status_code == 200, resp.text
    assert ctx.db.upload(upload_id)["received"] == 1000 and list(ctx.config.uploads_dir.glob("*.part"))


def test_other_station_cannot_commit_or_read(two_stations):
    live, ctx, a, b, pkg, data, upload_id = two_stations
    resp = requests.put(live.url + api.UPLOAD_CHUNK(upload_id, 0), data=data, timeout=10,
                        headers={**_headers(a), api.HEADER_CHUNK_SHA256: hashlib.sha256(data).hexdigest()})
    assert resp.json()["received"] == pkg.size
    commit = requests.post(live.url + api.UPLOAD_COMMIT(upload_id), headers=_headers(b), timeout=10)
    assert commit.status_code == 404
    assert ctx.db.upload(upload_id)["state"] == "open" and ctx.catalog.packages() == []
    status = requests.get(live.url + api.UPLOAD(upload_id), headers=_headers(b), timeout=10)
    assert status.status_code == 404 and "receipt" not in status.text
    # the same package opened by B is B's own upload, not a window onto A's
    mine = requests.post(live.url + api.UPLOADS, json={"sha256": pkg.sha256, "size": pkg.size},
                         headers=_headers(b), timeout=10).json()
    assert mine["upload_id"] != upload_id and mine["received"] == 0
    ok = requests.post(live.url + api.UPLOAD_COMMIT(upload_id), headers=_headers(a), timeout=10)
    assert ok.status_code == 200 and ok.json()["receipt"]["station_id"] == "tram-01"


def test_revoked_station_refused_immediately(archive_server, make_package):
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    pkg = make_package()
    client = SyncClient(live.url, station_id="tram-01", token=creds["token"], timeout=10)
    assert client.workorders() == []  # works before
    assert ctx.db.revoke_station("tram-01") is True
    assert ctx.db.revoke_station("tram-99") is False
    for method, path in (("GET", api.WORKORDERS), ("POST", api.UPLOADS), ("GET", api.UPLOAD("0" * 32))):
        resp = requests.request(method, live.url + path, headers=_headers(creds), timeout=10,
                                json={"sha256": pkg.sha256, "size": pkg.size})
        assert resp.status_code == 401, (method, path)
    with pytest.raises(SyncError) as err:
        client.send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})
    assert err.value.status == 401 and not err.value.retry
    assert ctx.db.stations()[0]["revoked"] == 1
    assert ctx.db.query("SELECT COUNT(*) AS n FROM uploads")[0]["n"] == 0


def test_station_id_must_match_its_token(archive_server):
    live, ctx = archive_server
    a, _ = ctx.db.add_station("tram-01"), ctx.db.add_station("tram-02")
    resp = requests.get(live.url + api.WORKORDERS, timeout=10,
                        headers={api.HEADER_STATION: "tram-02", "Authorization": f"Bearer {a['token']}"})
    assert resp.status_code == 401


@pytest.mark.parametrize("body", [
    [1, 2], "text", {"sha256": "A" * 64, "size": True}, {"sha256": "A" * 64, "size": 10, "file_code": {"x": 1}},
    {"sha256": "A" * 64, "size": 10, "expected_sheets": -1}, {"sha256": "Z" * 64, "size": 10},
    {"sha256": "A" * 64, "size": api.MAX_PACKAGE_SIZE + 1},
])
def test_malformed_manifest_is_a_4xx(archive_server, body):
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    resp = requests.post(live.url + api.UPLOADS, json=body, headers=_headers(creds), timeout=10)
    assert resp.status_code in (400, 413) and resp.json()["error"] in (api.ErrorCode.BAD_REQUEST,
                                                                       api.ErrorCode.TOO_LARGE)
