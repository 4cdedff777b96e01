"""Two archive server processes sharing one PostgreSQL database (records and catalogue) and one package store
accept uploads at the same time: the same package sent to both is one upload with one receipt, stored once
and catalogued once; different packages sent concurrently are all kept; a station enrolled through one
server works at the other, and a station revoked at one is refused by the other from its next request.

What is shared, as docs/scaling.md says a deployment behind a load balancer must share it: the database
(`database` and `catalog_url`, one PostgreSQL database here), the package store, the uploads folder (a
station may send its chunks to either server) and the receipt key (either server may answer with the
receipt the other signed). Each is a symlink from the server's data_dir, as an NFS mount would be. The
dashboard's web accounts live in the shared records, and both servers name one session-key file
(`session_key_file`), so an admin made once logs in at either and a session made by one is honoured by the other.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from protocol import api
from protocol.package import read_package
from server.accounts import auth
from server.accounts.keys import load_or_create_key
from server.catalogue.catalog_pg import PgCatalog
from server.databases import open_server_db
from server.store.storage import VERSION_RE, PackageStore
from station.enroll import EnrollError, enroll
from station.sync.client import SyncClient, SyncError
from tests.server.test_catalog_pg import pg_database
from tests.support.servers import ServerProcess
from tests.support.wait import wait_until
from tests.support.web import ADMIN, csrf_from, web_login

ROOT = Path(__file__).resolve().parents[2]


def _server(root: Path, name: str, shared: Path, url: str, trust_pem: Path) -> ServerProcess:
    server = ServerProcess(root / name, trust_pem)
    for folder in ("store", "uploads", "keys"):
        (server.data_dir / folder).symlink_to(shared / folder, target_is_directory=True)
    server.config.write_text(
        server.config.read_text()
        + f'catalog_url = "{url}"\ndatabase = "{url}"\nsession_key_file = "{shared / "web" / "session.key"}"\n'
        + f'backup_dir = "{shared / "backup"}"\n',
        encoding="utf-8",
    )
    return server


def _cli(server: ServerProcess, *args: str, stdin: str | None = None) -> dict:
    done = subprocess.run([*server.argv, *args], capture_output=True, text=True, timeout=60, cwd=ROOT, input=stdin)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_two_servers_one_database_one_store(tmp_path, demo_keys, make_package) -> None:
    shared = tmp_path / "shared"
    for folder in ("store", "uploads", "keys"):
        (shared / folder).mkdir(parents=True)
    load_or_create_key(shared / "keys" / "receipt-ed25519.pem")
    same = make_package()
    others = [make_package(notation="161.VP"), make_package(notation="162.VP")]
    late = make_package(notation="163.VP")  # sent through A, then committed at A and B at once
    with pg_database() as url:
        servers = [_server(tmp_path, n, shared, url, demo_keys.ca_pem) for n in ("server-a", "server-b")]
        try:
            # the admin once, through server A's configuration only: into the shared records
            assert _cli(servers[0], "add-user", ADMIN[0], "--role", "admin", stdin=ADMIN[1] + "\n")["role"] == "admin"
            creds = _cli(servers[0], "add-station", "tram-01")  # added through server A's configuration only
            for server in servers:
                server.start()
            clients = [SyncClient(s.url, station_id="tram-01", token=creds["token"], timeout=60) for s in servers]
            jobs = [(clients[0], same), (clients[1], same), (clients[0], others[0]), (clients[1], others[1])]
            receipts: dict[int, object] = {}
            start = threading.Barrier(len(jobs))

            def send(n: int, client: SyncClient, pkg) -> None:
                start.wait()
                try:
                    receipts[n] = client.send(
                        pkg.path,
                        sha256=pkg.sha256,
                        size=pkg.size,
                        manifest={"file_code": read_package(pkg.path).file_code},
                    )
                except Exception as exc:  # noqa: BLE001 - reported by the assertions below
                    receipts[n] = exc

            threads = [threading.Thread(target=send, args=(n, *job)) for n, job in enumerate(jobs)]
            began = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(180)
            elapsed = time.monotonic() - began
            raced = _commit_raced_on_both(servers, creds, late)
            _enrolled_at_one_revoked_at_other(servers, tmp_path)
            _web_account_shared(servers, url, shared)
        finally:
            for server in servers:
                server.stop()
        logs = "\n".join(s.log.read_text(errors="replace")[-2000:] for s in servers)
        for n, (_, pkg) in enumerate(jobs):
            receipt = receipts.get(n)
            assert getattr(receipt, "verdict", None) == "accepted", f"job {n}: {receipt}\n{logs}"
            assert receipt.objid == pkg.objid and receipt.stored_sha256 == pkg.sha256
        # one upload of the shared package, so one receipt: both stations' answers are the same signed receipt
        assert receipts[0].upload_id == receipts[1].upload_id and receipts[0].signature == receipts[1].signature
        statuses = [r.status_code for r in raced]
        answers = [r.json() for r in raced]
        assert statuses == [200] * len(raced) and all(a["state"] == "accepted" for a in answers), answers
        assert len({json.dumps(a["receipt"], sort_keys=True) for a in answers}) == 1, "more than one receipt"
        packages = (same, *others, late)

        # the shared records: exactly one accepted upload per package, none left open
        db = open_server_db(url)
        try:
            rows = db.query("SELECT station_id, sha256, state FROM uploads ORDER BY sha256")
        finally:
            db.close()
        assert rows == sorted(
            ({"station_id": "tram-01", "sha256": p.sha256, "state": "accepted"} for p in packages),
            key=lambda r: r["sha256"],
        ), rows
        assert not list((shared / "uploads").glob("*.part"))

        # the shared store: one file per package, one ledger line each, all intact
        store = PackageStore(shared / "store")
        files = sorted(p for p in (shared / "store" / "objects").rglob("*") if p.is_file())
        assert len(files) == len(packages), files
        for path in files:
            m = VERSION_RE.match(path.name)
            assert m and m["n"] == "0001", path
            assert hashlib.sha256(path.read_bytes()).hexdigest().upper() == m["sha"]
        entries = store.primary.entries()
        assert sorted(e["objid"] for e in entries) == sorted(p.objid for p in packages), entries
        assert store.fixity().clean
        assert not list((shared / "store" / "tmp").glob("*.part"))
        backup = PackageStore(shared / "store", backup_root=shared / "backup")
        assert backup.fixity().clean and len(backup.backup.all_files()) == len(packages)
        assert not list((shared / "backup" / "uploads").glob("*.part")), "a backup part left behind"

        # the shared catalogue: one row per package, the same package found once
        catalog = PgCatalog(url)
        try:
            assert sorted(p["objid"] for p in catalog.packages()) == sorted(p.objid for p in packages)
            hoso_hits = [h for h in catalog.search("giấy chứng nhận quyền sử dụng đất", limit=50) if not h.doc_id]
            assert sorted(h.objid for h in hoso_hits) == sorted(p.objid for p in packages)
            assert len(catalog.package(same.objid)["documents"]) == 1
        finally:
            catalog.close()
        print(f"4 concurrent uploads to 2 servers: {elapsed:.1f} s")


def _commit_raced_on_both(servers: list[ServerProcess], creds: dict, pkg) -> list[requests.Response]:
    """Every byte sent to server A, then the commit asked of A and B twice each at the same moment."""
    headers = {api.HEADER_STATION: "tram-01", "Authorization": f"{api.AUTH_SCHEME} {creds['token']}"}
    a, b = servers
    opened = requests.post(
        a.url + api.UPLOADS, json={"sha256": pkg.sha256, "size": pkg.size}, headers=headers, timeout=30
    ).json()
    data = pkg.path.read_bytes()
    put = requests.put(
        a.url + api.UPLOAD_CHUNK(opened["upload_id"], 0),
        data=data,
        timeout=30,
        headers={**headers, api.HEADER_CHUNK_SHA256: hashlib.sha256(data).hexdigest()},
    )
    assert put.json()["received"] == pkg.size, put.text
    urls = [a.url, b.url, a.url, b.url]
    answers: list[requests.Response | None] = [None] * len(urls)
    start = threading.Barrier(len(urls))

    def commit(n: int) -> None:
        start.wait()
        answers[n] = requests.post(urls[n] + api.UPLOAD_COMMIT(opened["upload_id"]), headers=headers, timeout=120)

    threads = [threading.Thread(target=commit, args=(n,)) for n in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    return answers


def _enrolled_at_one_revoked_at_other(servers: list[ServerProcess], tmp_path: Path) -> None:
    """A code made with server B's configuration, redeemed at server A, works at B; revoked by the admin
    on A's dashboard, B refuses the very next request."""
    a, b = servers
    code = _cli(b, "enroll-code", "tram-02")["code"]
    identity = enroll(a.url, code, tmp_path / "tram-02")
    token = Path(identity["files"]["token"]).read_text().strip()
    at_b = SyncClient(b.url, station_id="tram-02", token=token, timeout=30)
    assert at_b.workorders() == []  # authenticated at the server that did not enrol it
    with pytest.raises(EnrollError) as refused:
        enroll(b.url, code, tmp_path / "replay")  # one-time across servers
    assert refused.value.status == 403 and refused.value.code == "bad_code"

    admin = web_login(a.url, *ADMIN)
    page = admin.get(a.url + "/stations", timeout=10)
    assert "tram-02" in page.text  # A lists the station B's code made
    revoked = admin.post(
        a.url + "/stations/tram-02/revoke", data={"csrf_token": csrf_from(page.text)}, allow_redirects=False, timeout=10
    )
    assert revoked.status_code == 302, revoked.text[:300]
    with pytest.raises(SyncError) as err:
        at_b.workorders()
    assert err.value.status == 401


def _web_account_shared(servers: list[ServerProcess], url: str, shared: Path) -> None:
    """The admin made once logs in at both servers; A's session cookie is honoured by B; disabled through
    A's records, the account is refused by B at its next request, session and password alike."""
    a, b = servers
    for server in servers:
        admin = web_login(server.url, *ADMIN)
        assert admin.get(server.url + "/users", allow_redirects=False, timeout=10).status_code == 200
    at_a = web_login(a.url, *ADMIN)
    at_b = requests.Session()
    at_b.cookies.update(at_a.cookies)  # the load balancer sends the next request to B
    page = at_b.get(b.url + "/users", allow_redirects=False, timeout=10)
    assert page.status_code == 200 and ADMIN[0] in page.text
    assert (shared / "web" / "session.key").exists() and not (shared / "keys" / "web-session.key").exists()

    records = open_server_db(url)  # what server A opens (same `database` setting)
    try:
        assert auth.disable_user(records, ADMIN[0])
    finally:
        records.close()
    assert at_b.get(b.url + "/users", allow_redirects=False, timeout=10).status_code == 302
    assert at_a.get(a.url + "/users", allow_redirects=False, timeout=10).status_code == 302
    with pytest.raises(AssertionError, match="login failed: 401"):
        web_login(b.url, *ADMIN)


PUT_SCRIPT = """
import sys
from pathlib import Path
from server.store.storage import PackageStore
store = PackageStore(Path(sys.argv[1]))
stored = store.put(Path(sys.argv[2]), objid=sys.argv[3], sha256=sys.argv[4])
print(stored.version)
"""


def test_store_versions_are_unique_across_processes(tmp_path: Path) -> None:
    """Six processes store six different versions of one OBJID (re-scans sent as REPLACEMENT) at once,
    and three more store the same bytes again: versions 1..6, each once, and one ledger line each."""
    root = tmp_path / "store"
    PackageStore(root)
    objid = "uuid-6F1C0E0A-0000-4000-8000-000000000001"
    blobs = []
    for n in range(6):
        blob = tmp_path / f"v{n}.zip"
        blob.write_bytes(f"version {n} ".encode() * 200_000)  # ~2 MB: long enough to overlap
        blobs.append((blob, hashlib.sha256(blob.read_bytes()).hexdigest().upper()))
    jobs = blobs + blobs[:3]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PUT_SCRIPT, str(root), str(b), objid, sha],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for b, sha in jobs
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1000:] for o in outs]
    store = PackageStore(root)
    versions = store.versions(objid)
    assert [v.version for v in versions] == [1, 2, 3, 4, 5, 6]
    assert sorted(v.sha256 for v in versions) == sorted(sha for _, sha in blobs)
    assert len(store.primary.entries()) == 6
    assert store.fixity(manifests=False).clean  # not packages: each version against its name and the ledger
    by_sha = {v.sha256: v.version for v in versions}
    assert [int(o[0]) for o in outs] == [by_sha[sha] for _, sha in jobs]  # the repeats got the stored version


def test_starting_server_keeps_anothers_temp_file(tmp_path: Path) -> None:
    """A second server opening the shared store must not delete the temp file the first one is writing:
    start-up clean-up waits for the store lock, which a writer holds for the whole write."""
    import fcntl

    root = tmp_path / "store"
    PackageStore(root)
    part = root / "tmp" / "in-flight.part"
    part.write_bytes(b"half a package")
    with open(root / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as PackageStore.put does while writing
        opener = subprocess.Popen(
            [sys.executable, "-c", f"from server.store.storage import PackageStore; PackageStore({str(root)!r})"],
            cwd=ROOT,
        )
        # The opener has reached its clean-up when it waits on the lock (a "->" line of /proc/locks): a start-up
        # that did not wait would have cleaned by then. Below, once unlocked, the same probe sees the file go.
        def waiting() -> bool:
            locks = [line.split() for line in Path("/proc/locks").read_text().splitlines()]
            return opener.poll() is not None or any(f[1] == "->" and f[5] == str(opener.pid) for f in locks)

        wait_until(waiting, 60, "the second server's start-up to reach the store lock")
        assert part.exists(), "start-up clean-up removed a temp file another process is writing"
        assert opener.poll() is None, "start-up clean-up did not wait for the store lock"
        fcntl.flock(handle, fcntl.LOCK_UN)
    assert opener.wait(timeout=30) == 0
    assert not part.exists()  # once nobody writes, a leftover is a crash's and goes


def test_chunks_spread_over_two_servers_stream_one_backup_part(tmp_path, demo_keys, make_package) -> None:
    """An upload's chunks reach both servers in turn (a load balancer): each writes the shared backup part
    under the upload's lock, and the commit at the other server publishes that very part as the backup."""
    shared = tmp_path / "shared"
    for folder in ("store", "uploads", "keys"):
        (shared / folder).mkdir(parents=True)
    load_or_create_key(shared / "keys" / "receipt-ed25519.pem")
    pkg = make_package()
    data = pkg.path.read_bytes()
    with pg_database() as url:
        servers = [_server(tmp_path, n, shared, url, demo_keys.ca_pem) for n in ("server-a", "server-b")]
        try:
            creds = _cli(servers[0], "add-station", "tram-01")
            for server in servers:
                server.start()
            headers = {api.HEADER_STATION: "tram-01", "Authorization": f"{api.AUTH_SCHEME} {creds['token']}"}
            upload_id = requests.post(servers[0].url + api.UPLOADS, json={"sha256": pkg.sha256, "size": pkg.size},
                                      headers=headers, timeout=30).json()["upload_id"]
            step = 16384
            for n, start in enumerate(range(0, len(data), step)):
                chunk = data[start : start + step]
                put = requests.put(servers[n % 2].url + api.UPLOAD_CHUNK(upload_id, start), data=chunk, timeout=30,
                                   headers={**headers, api.HEADER_CHUNK_SHA256: hashlib.sha256(chunk).hexdigest()})
                assert put.status_code == 200, put.text
            part = shared / "backup" / "uploads" / f"{upload_id}.part"
            assert part.read_bytes() == data
            inode = part.stat().st_ino
            done = requests.post(servers[1].url + api.UPLOAD_COMMIT(upload_id), headers=headers, timeout=60)
            assert done.status_code == 200 and done.json()["state"] == "accepted", done.text
        finally:
            for server in servers:
                server.stop()
    store = PackageStore(shared / "store", backup_root=shared / "backup")
    stored = store.get(pkg.objid)
    assert stored.backup_path.stat().st_ino == inode, "the backup copy is the part both servers wrote"
    assert store.fixity().clean and not part.exists()
