"""HTTPS: the shipped nginx site (hardware/pi/nginx/sohoa-server.conf) in front of the real server app,
with a certificate from `sohoa.appliance.tls`. A client that pins the archive's CA gets through; one that
trusts only the system's CAs, or another CA, does not."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
import requests

from sohoa.appliance.tls import make_ca, make_server_cert
from station.sync.client import SyncClient, SyncError
from tests.support.servers import nginx_site

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pki(tmp_path: Path):
    ca = make_ca(tmp_path / "tls", name="Trung tâm Lưu trữ tỉnh Đồng Nai (thử)")
    server = make_server_cert(ca, tmp_path / "tls", hostnames=["localhost"], ips=["127.0.0.1"])
    return ca, server


@pytest.fixture
def nginx_in_front(tmp_path: Path, pki, archive_server):
    live, ctx = archive_server
    with nginx_site(live.port, tmp_path / "tls", tmp_path / "nginx") as (port, http_port):
        yield f"https://127.0.0.1:{port}", f"http://127.0.0.1:{http_port}", ctx


def test_key_files_are_private(pki) -> None:
    ca, server = pki
    for key in (ca.key, server.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        make_ca(ca.cert.parent, name="again")


def test_pinned_ca_succeeds_and_unpinned_fails(nginx_in_front, pki, tmp_path: Path) -> None:
    url, _, _ = nginx_in_front
    ca, _ = pki
    ok = requests.get(url + "/api/v1/health", verify=str(ca.cert), timeout=10)
    assert ok.status_code == 200
    with pytest.raises(requests.exceptions.SSLError):  # the system CA store does not know our CA
        requests.get(url + "/api/v1/health", timeout=10)
    other = make_ca(tmp_path / "other", name="Some other CA")
    with pytest.raises(requests.exceptions.SSLError):  # nor does another CA: the pin is what counts
        requests.get(url + "/api/v1/health", verify=str(other.cert), timeout=10)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_tls_versions_and_plain_http_redirect(nginx_in_front, pki) -> None:
    url, http_url, _ = nginx_in_front
    ca, _ = pki
    context = ssl.create_default_context(cafile=str(ca.cert))
    context.minimum_version = ssl.TLSVersion.TLSv1  # what an outdated client would offer, and no more
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises(requests.exceptions.SSLError):
        session = requests.Session()
        from requests.adapters import HTTPAdapter

        class OldTls(HTTPAdapter):
            def init_poolmanager(self, *a, **kw):
                kw["ssl_context"] = context
                return super().init_poolmanager(*a, **kw)

        session.mount("https://", OldTls())
        session.get(url + "/api/v1/health", timeout=10)
    redirect = requests.get(http_url + "/api/v1/health", allow_redirects=False, timeout=10)
    assert redirect.status_code == 308 and redirect.headers["Location"].startswith("https://")


def test_sync_upload_through_nginx_with_the_pinned_ca(nginx_in_front, pki, make_package, monkeypatch) -> None:
    """The whole sync protocol (chunks, commit, signed receipt) through the TLS proxy, the station pinning
    the server's CA with `verify=` (its server_ca_file), even with a system CA bundle in the environment."""
    url, _, ctx = nginx_in_front
    ca, _ = pki
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    creds = ctx.db.add_station("tram-02")
    pkg = make_package()
    client = SyncClient(url, station_id="tram-02", token=creds["token"], chunk_size=64 * 1024, verify=str(ca.cert))
    receipt = client.send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})
    assert receipt.verdict == "accepted", receipt.reasons
    unpinned = SyncClient(url, station_id="tram-02", token=creds["token"])
    with pytest.raises(SyncError, match="unreachable"):
        unpinned.send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})


def test_environment_ca_bundle_overrides_session_verify(nginx_in_front, pki, monkeypatch) -> None:
    """Why the station must pass `verify=server_ca_file` per request, not only on the session: with
    REQUESTS_CA_BUNDLE set, requests ignores session.verify, and the pinned CA is silently not used."""
    url, _, _ = nginx_in_front
    ca, _ = pki
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    session = requests.Session()
    session.verify = str(ca.cert)
    with pytest.raises(requests.exceptions.SSLError):
        session.get(url + "/api/v1/health", timeout=10)
    assert session.get(url + "/api/v1/health", verify=str(ca.cert), timeout=10).status_code == 200
