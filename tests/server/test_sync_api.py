"""Station ↔ server sync over real HTTP: accept, idempotency, resume, authentication, isolation.

Every test runs twice: with the server's records in the default SQLite file and in PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
import requests
from records_support import records_target  # noqa: F401 - fixture

from protocol import api
from server.config import is_postgres
from station.sync.client import SyncClient, SyncError


@pytest.fixture
def archive_server(tmp_path, demo_keys, records_target):  # noqa: F811 - fixture
    """conftest's archive_server, with the records on the backend under test."""
    from server.app import build_context
    from server.config import ServerConfig
    from tests.support.servers import serving

    database = str(records_target) if is_postgres(records_target) else ""
    config = ServerConfig(data_dir=tmp_path / "server", trust_roots=[demo_keys.ca_pem], database=database)
    context = build_context(config)
    assert context.db.dialect.name == ("postgresql" if database else "sqlite")
    with serving(context) as live:
        yield live, context


def _client(live, creds, **kw) -> SyncClient:
    return SyncClient(live.url, station_id=creds["station_id"], token=creds["token"], **kw)


def test_package_accepted_stored_and_catalogued(archive_server, make_package):
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    pkg = make_package()
    receipt = _client(live, creds).send(pkg.path, sha256=pkg.sha256, size=pkg.size,
                                        manifest={"file_code": "000.00.00.H47.2001.160.VP"})
    assert receipt.verdict == "accepted", receipt.reasons
    assert receipt.stored_sha256 == pkg.sha256
    assert ctx.catalog.search("dong nai")  # catalogued, searchable without diacritics
    assert len(ctx.catalog.packages()) == 1


def test_resending_is_idempotent(archive_server, make_package):
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    pkg = make_package()
    client = _client(live, creds)
    first = client.send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})
    second = client.send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})
    assert first.upload_id == second.upload_id and first.signature == second.signature
    assert len(ctx.catalog.packages()) == 1
    assert ctx.db.query("SELECT COUNT(*) AS n FROM uploads")[0]["n"] == 1


def test_resume_after_partial_upload(archive_server, make_package):
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    pkg = make_package()
    data = pkg.path.read_bytes()
    headers = {api.HEADER_STATION: "tram-01", "Authorization": f"Bearer {creds['token']}"}
    opened = requests.post(live.url + api.UPLOADS, json={"sha256": pkg.sha256, "size": pkg.size},
                           headers=headers, timeout=10).json()
    half = data[: len(data) // 2]
    requests.put(live.url + api.UPLOAD_CHUNK(opened["upload_id"], 0), data=half, timeout=10,
                 headers={**headers, api.HEADER_CHUNK_SHA256: hashlib.sha256(half).hexdigest()})
    status = requests.get(live.url + api.UPLOAD(opened["upload_id"]), headers=headers, timeout=10).json()
    assert status["received"] == len(half)
    receipt = _client(live, creds, chunk_size=4096).send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})
    assert receipt.verdict == "accepted", receipt.reasons


def test_bad_chunk_hash_and_offset_refused(archive_server, make_package):
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    pkg = make_package()
    headers = {api.HEADER_STATION: "tram-01", "Authorization": f"Bearer {creds['token']}"}
    up = requests.post(live.url + api.UPLOADS, json={"sha256": pkg.sha256, "size": pkg.size},
                       headers=headers, timeout=10).json()["upload_id"]
    bad = requests.put(live.url + api.UPLOAD_CHUNK(up, 0), data=b"abc", timeout=10,
                       headers={**headers, api.HEADER_CHUNK_SHA256: "0" * 64})
    assert bad.status_code == 400 and bad.json()["error"] == api.ErrorCode.CHUNK_HASH
    gap = requests.put(live.url + api.UPLOAD_CHUNK(up, 100), data=b"abc", timeout=10,
                       headers={**headers, api.HEADER_CHUNK_SHA256: hashlib.sha256(b"abc").hexdigest()})
    assert gap.status_code == 409 and gap.json()["error"] == api.ErrorCode.OFFSET
    early = requests.post(live.url + api.UPLOAD_COMMIT(up), headers=headers, timeout=10)
    assert early.status_code == 409 and early.json()["error"] == api.ErrorCode.INCOMPLETE


def test_wrong_token_and_other_station_refused(archive_server, make_package):
    live, ctx = archive_server
    a = ctx.db.add_station("tram-01")
    b = ctx.db.add_station("tram-02")
    pkg = make_package()
    with pytest.raises(SyncError) as err:
        SyncClient(live.url, station_id="tram-01", token="wrong").send(pkg.path, sha256=pkg.sha256,
                                                                       size=pkg.size, manifest={})
    assert "401" in str(err.value) and not err.value.retry
    receipt = _client(live, a).send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})
    headers_b = {api.HEADER_STATION: "tram-02", "Authorization": f"Bearer {b['token']}"}
    headers_a = {api.HEADER_STATION: "tram-01", "Authorization": f"Bearer {a['token']}"}
    assert requests.get(live.url + api.UPLOAD(receipt.upload_id), headers=headers_a, timeout=10).status_code == 200
    resp = requests.get(live.url + api.UPLOAD(receipt.upload_id), headers=headers_b, timeout=10)
    assert resp.status_code == 404  # station B cannot even see that station A's upload exists


def test_broken_package_rejected_with_reasons(archive_server, tmp_path):
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 this is not a real zip" * 10)
    digest = hashlib.sha256(junk.read_bytes()).hexdigest().upper()
    receipt = _client(live, creds).send(junk, sha256=digest, size=junk.stat().st_size, manifest={})
    assert receipt.verdict == "rejected"
    assert receipt.reasons
    assert ctx.catalog.packages() == []


def test_manifest_text_the_database_cannot_store_is_refused(archive_server):
    """NUL (PostgreSQL refuses it in text) and lone surrogates (neither backend stores them): 400, not 500."""
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    headers = {api.HEADER_STATION: "tram-01", "Authorization": f"Bearer {creds['token']}",
               "Content-Type": "application/json"}
    for bad in ('"000.00\\u0000.VP"', '"\\ud800"'):
        body = f'{{"sha256": "{"A" * 64}", "size": 10, "file_code": {bad}}}'
        resp = requests.post(live.url + api.UPLOADS, data=body.encode(), headers=headers, timeout=10)
        assert resp.status_code == 400 and "file_code" in resp.json()["message"], resp.text
    assert ctx.db.query("SELECT COUNT(*) AS n FROM uploads")[0]["n"] == 0
    good = f'{{"sha256": "{"A" * 64}", "size": 10, "file_code": "000.00.VP"}}'  # positive control: the same
    assert requests.post(live.url + api.UPLOADS, data=good.encode(), headers=headers, timeout=10).ok  # request,
    assert ctx.db.query("SELECT COUNT(*) AS n FROM uploads")[0]["n"] == 1  # sound, is counted by the same probe
