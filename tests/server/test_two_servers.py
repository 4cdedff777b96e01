"""Two archive server processes behind one PostgreSQL catalogue and one shared package store accept
uploads at the same time: the same package sent to both is stored once and catalogued once, different
packages sent concurrently are all kept, and both stations get an accepted receipt.

What is shared here and what is not: the catalogue (PostgreSQL) and the package store (one folder; each
server's data_dir/store is a symlink to it, as an NFS mount or an object store would be). Each server
keeps its own server.db (station accounts, upload sessions, receipts), uploads/ and receipt key: a station
talks to one server per upload, so that is correct for this test, but a real deployment behind a load
balancer must also share server.db (PostgreSQL) and the receipt key, or pin each station to one server.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from pathlib import Path

from protocol.package import read_package
from server.catalog_pg import PgCatalog
from server.storage import VERSION_RE, PackageStore
from station.sync.client import SyncClient
from tests.conftest import ServerProcess
from tests.server.test_catalog_pg import pg_database

ROOT = Path(__file__).resolve().parents[2]


def _server(root: Path, name: str, shared_store: Path, catalog_url: str, trust_pem: Path) -> ServerProcess:
    server = ServerProcess(root / name, trust_pem)
    (server.data_dir / "store").symlink_to(shared_store, target_is_directory=True)
    server.config.write_text(server.config.read_text() + f'catalog_url = "{catalog_url}"\n', encoding="utf-8")
    return server


def test_two_servers_one_catalog_one_store(tmp_path, demo_keys, make_package) -> None:
    shared = tmp_path / "shared-store"
    shared.mkdir()
    same = make_package()
    others = [make_package(notation="161.VP"), make_package(notation="162.VP")]
    with pg_database() as url:
        servers = [_server(tmp_path, n, shared, url, demo_keys.ca_pem) for n in ("server-a", "server-b")]
        try:
            clients = []
            for server in servers:
                creds = server.add_station("tram-01")
                server.start()
                clients.append(SyncClient(server.url, station_id="tram-01", token=creds["token"], timeout=60))
            jobs = [(clients[0], same), (clients[1], same), (clients[0], others[0]), (clients[1], others[1])]
            receipts: dict[int, object] = {}
            start = threading.Barrier(len(jobs))

            def send(n: int, client: SyncClient, pkg) -> None:
                start.wait()
                try:
                    receipts[n] = client.send(pkg.path, sha256=pkg.sha256, size=pkg.size,
                                              manifest={"file_code": read_package(pkg.path).file_code})
                except Exception as exc:  # noqa: BLE001 - reported by the assertions below
                    receipts[n] = exc

            threads = [threading.Thread(target=send, args=(n, *job)) for n, job in enumerate(jobs)]
            began = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(180)
            elapsed = time.monotonic() - began
        finally:
            for server in servers:
                server.stop()
        logs = "\n".join(s.log.read_text(errors="replace")[-2000:] for s in servers)
        for n, (_, pkg) in enumerate(jobs):
            receipt = receipts.get(n)
            assert getattr(receipt, "verdict", None) == "accepted", f"job {n}: {receipt}\n{logs}"
            assert receipt.objid == pkg.objid and receipt.stored_sha256 == pkg.sha256

        # the shared store: one file per package, one ledger line each, all intact
        store = PackageStore(shared)
        files = sorted(p for p in (shared / "objects").rglob("*") if p.is_file())
        assert len(files) == 3, files
        for path in files:
            m = VERSION_RE.match(path.name)
            assert m and m["n"] == "0001", path
            assert hashlib.sha256(path.read_bytes()).hexdigest().upper() == m["sha"]
        entries = store.primary.entries()
        assert sorted(e["objid"] for e in entries) == sorted(p.objid for p in (same, *others)), entries
        assert store.fixity().clean
        assert not list((shared / "tmp").glob("*.part"))

        # the shared catalogue: one row per package, the same package found once
        catalog = PgCatalog(url)
        try:
            assert sorted(p["objid"] for p in catalog.packages()) == sorted(p.objid for p in (same, *others))
            hoso_hits = [h for h in catalog.search("giấy chứng nhận quyền sử dụng đất", limit=50) if not h.doc_id]
            assert sorted(h.objid for h in hoso_hits) == sorted(p.objid for p in (same, *others))
            assert len(catalog.package(same.objid)["documents"]) == 1
        finally:
            catalog.close()
        # each server recorded its own accepted upload of the shared package
        for server in servers:
            rows = server_db_rows(server, same.sha256)
            assert rows == [("tram-01", "accepted")], rows
        print(f"4 concurrent uploads to 2 servers: {elapsed:.1f} s")


def server_db_rows(server: ServerProcess, sha256: str) -> list[tuple[str, str]]:
    from server.db import ServerDB

    db = ServerDB(server.data_dir / "server.db")
    return [(r["station_id"], r["state"]) for r in db.query("SELECT station_id, state FROM uploads WHERE sha256 = ?",
                                                            (sha256,))]


PUT_SCRIPT = """
import sys
from pathlib import Path
from server.storage import PackageStore
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
    procs = [subprocess.Popen([sys.executable, "-c", PUT_SCRIPT, str(root), str(b), objid, sha],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for b, sha in jobs]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1000:] for o in outs]
    store = PackageStore(root)
    versions = store.versions(objid)
    assert [v.version for v in versions] == [1, 2, 3, 4, 5, 6]
    assert sorted(v.sha256 for v in versions) == sorted(sha for _, sha in blobs)
    assert len(store.primary.entries()) == 6 and store.fixity().clean
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
        opener = subprocess.Popen([sys.executable, "-c",
                                   f"from server.storage import PackageStore; PackageStore({str(root)!r})"], cwd=ROOT)
        time.sleep(1.0)
        assert part.exists(), "start-up clean-up removed a temp file another process is writing"
        assert opener.poll() is None, "start-up clean-up did not wait for the store lock"
        fcntl.flock(handle, fcntl.LOCK_UN)
    assert opener.wait(timeout=30) == 0
    assert not part.exists()  # once nobody writes, a leftover is a crash's and goes
