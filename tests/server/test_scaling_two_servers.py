"""Two server processes, one PostgreSQL database, one store folder; many stations send at random to either
(the same package to both at once, sometimes) while one server is killed with SIGKILL in the middle and
started again. Afterwards every package is stored exactly once, the ledger and the catalogue name each
once, every upload has its receipt and fixity is clean: nothing in ingest assumes a single process.

Default suite: 3 stations x 4 packages; stress: 10 stations x 20 packages (the 200 of issue #15)."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from protocol.package import read_package
from server.accounts.keys import load_or_create_key
from server.catalogue.catalog_pg import PgCatalog
from server.databases import open_server_db
from server.store.storage import VERSION_RE, PackageStore
from station.sync.client import SyncClient, SyncError
from tests.server.test_catalog_pg import pg_database
from tests.server.test_two_servers import _server
from tests.support.wait import wait_until


def _run(tmp_path: Path, demo_keys, make_package, *, stations: int, per_station: int, seed: int) -> None:
    rng = random.Random(seed)
    shared = tmp_path / "shared"
    for folder in ("store", "uploads", "keys"):
        (shared / folder).mkdir(parents=True)
    load_or_create_key(shared / "keys" / "receipt-ed25519.pem")
    work = {f"tram-{s:02d}": [make_package(notation=f"{200 + s * per_station + n}.VP") for n in range(per_station)]
            for s in range(stations)}
    total = stations * per_station
    with pg_database() as url:
        records = open_server_db(url)
        creds = {sid: records.add_station(sid) for sid in work}
        records.close()
        servers = [_server(tmp_path, n, shared, url, demo_keys.ca_pem) for n in ("server-a", "server-b")]
        done: list[str] = []
        receipts: dict[str, list] = {}
        problems: list[str] = []
        lock = threading.Lock()
        try:
            for server in servers:
                server.start()

            def send(sid: str, pkg, server_index: int) -> object:
                client = SyncClient(servers[server_index].url, station_id=sid, token=creds[sid]["token"], timeout=60)
                return client.send(pkg.path, sha256=pkg.sha256, size=pkg.size,
                                   manifest={"file_code": read_package(pkg.path).file_code})

            def station(sid: str, packages: list, station_rng: random.Random) -> None:
                for pkg in packages:
                    both = station_rng.random() < 0.25  # the same package to both servers at once
                    targets = [0, 1] if both else [station_rng.randrange(2)]
                    results: list = []

                    def one(index: int, results: list = results, pkg=pkg) -> None:
                        for attempt in range(60):  # the station's retry: the other server, a moment later
                            try:
                                results.append(send(sid, pkg, (index + attempt) % 2))
                                return
                            except SyncError as exc:
                                if not exc.retry:
                                    results.append(exc)
                                    return
                                time.sleep(0.2)  # the retry's pause is the behaviour under test
                        results.append(AssertionError("gave up"))

                    threads = [threading.Thread(target=one, args=(i,)) for i in targets]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join(300)
                    with lock:
                        receipts[pkg.objid] = results
                        done.append(pkg.objid)
                        bad = [r for r in results if getattr(r, "verdict", None) != "accepted"]
                        if bad:
                            problems.append(f"{sid} {pkg.objid}: {bad}")

            threads = [threading.Thread(target=station, args=(sid, pkgs, random.Random(rng.random())))
                       for sid, pkgs in work.items()]
            for t in threads:
                t.start()
            wait_until(lambda: len(done) >= total // 2, 600, "half the packages sent")
            servers[0].kill()  # SIGKILL in the middle of the run: uploads, commits and ledger writes cut off
            time.sleep(1.0)  # server A stays down a while: server B alone takes the retries (the scenario)
            servers[0].start()  # its start-up reconciliation runs while server B keeps ingesting
            for t in threads:
                t.join(900)
            assert not any(t.is_alive() for t in threads), "stations still sending"
        finally:
            for server in servers:
                server.stop()
        assert not problems, problems
        assert len(done) == total
        for objid, results in receipts.items():  # one upload per (station, package): one receipt
            assert len({r.signature for r in results}) == 1, (objid, results)

        packages = [p for pkgs in work.values() for p in pkgs]
        store = PackageStore(shared / "store")
        files = store.primary.all_files()
        assert sorted(VERSION_RE.match(f.name)["sha"] for f in files) == sorted(p.sha256 for p in packages), \
            "each package stored exactly once"
        assert all(VERSION_RE.match(f.name)["n"] == "0001" for f in files)
        entries = store.primary.entries()
        assert sorted(e["objid"] for e in entries) == sorted(p.objid for p in packages), "ledger: each once"
        report = store.fixity()
        assert report.clean, report.to_dict()
        catalog = PgCatalog(url)
        try:
            assert sorted(r["objid"] for r in catalog.packages()) == sorted(p.objid for p in packages)
        finally:
            catalog.close()
        db = open_server_db(url)
        try:
            rows = db.query("SELECT station_id, sha256, state FROM uploads")
        finally:
            db.close()
        assert len(rows) == total and {r["state"] for r in rows} == {"accepted"}, rows
        assert not list((shared / "uploads").glob("*.part"))


def test_two_servers_many_stations_one_killed(tmp_path, demo_keys, make_package):
    _run(tmp_path, demo_keys, make_package, stations=3, per_station=4, seed=15)


@pytest.mark.stress
def test_two_servers_200_packages_10_stations_one_killed(tmp_path, demo_keys, make_package):
    _run(tmp_path, demo_keys, make_package, stations=10, per_station=20,
         seed=int(os.environ.get("SOHOA_SEED", time.time())))
