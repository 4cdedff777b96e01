"""Faults, for real: the server is a separate process killed with SIGKILL during upload and commit, the
connection is cut mid-chunk by a proxy, the disk fills up, the clocks disagree. After each fault the
station resumes and finishes, and the archive holds exactly one complete copy: nothing lost, nothing
duplicated, nothing partial visible."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from protocol import api
from protocol.clock import now_vn, parse_iso
from server.catalogue.catalog import Catalog
from server.faults import ENV, POINTS
from server.records.db import ServerDB
from server.store.storage import VERSION_RE, PackageStore
from station.sync.client import SyncClient, SyncError
from tests.support.servers import close_context
from tests.support.wait import wait_until

FILE_CODE = "000.00.00.H47.2001.160.VP"


def _client(server, creds: dict, **kw) -> SyncClient:
    return SyncClient(server.url, station_id=creds["station_id"], token=creds["token"], timeout=10, **kw)


def _send(client: SyncClient, pkg):
    return client.send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={"file_code": FILE_CODE})


def _put_offsets(client: SyncClient) -> list[int]:
    """Record the offset of every chunk the client sends (a response hook on the real session)."""
    offsets: list[int] = []

    def hook(resp, *args, **kwargs):
        if resp.request.method == "PUT":
            offsets.append(int(resp.request.url.rsplit("/", 1)[1]))

    client.session.hooks["response"].append(hook)
    return offsets


def assert_one_complete_copy(data_dir: Path, pkg, *, versions: int = 1, backup: Path | None = None) -> None:
    """Exactly `versions` stored versions, every visible file complete and intact (in the backup store too),
    one catalogue row, one upload row per station, and no partial upload (or backup part) left behind."""
    for objects in [data_dir / "store" / "objects"] + ([backup / "objects"] if backup else []):
        visible = sorted(p for p in objects.rglob("*") if p.is_file())
        assert len(visible) == versions, visible
        for path in visible:
            m = VERSION_RE.match(path.name)
            assert m, f"unexpected file visible in the store: {path}"
            assert hashlib.sha256(path.read_bytes()).hexdigest().upper() == m["sha"], f"partial or damaged: {path}"
    store = PackageStore(data_dir / "store", backup_root=backup)
    assert store.get(pkg.objid).sha256 == pkg.sha256
    assert store.fixity().clean
    assert len(store.primary.entries()) == versions, "ledger lines duplicated"
    if backup:
        assert len(store.backup.entries()) == versions, "backup ledger lines duplicated"
        assert not list((backup / "uploads").glob("*.part")), "backup part left behind"
    packages = Catalog(data_dir / "catalog.db").packages()
    assert [p["objid"] for p in packages] == [pkg.objid]
    db = ServerDB(data_dir / "server.db")
    rows = db.query("SELECT station_id, state FROM uploads WHERE sha256 = ?", (pkg.sha256,))
    assert len(rows) == len({r["station_id"] for r in rows}) and {r["state"] for r in rows} == {"accepted"}
    assert not list((data_dir / "uploads").glob("*.part")), "partial upload left behind"


def _wait_for(predicate, timeout: float = 20, what: str = "condition") -> None:
    wait_until(predicate, timeout, what, interval=0.01)


def _part_size(data_dir: Path) -> int:
    parts = list((data_dir / "uploads").glob("*.part"))
    return parts[0].stat().st_size if parts else 0


def _in_thread(func, *args) -> tuple[threading.Thread, list]:
    out: list = []

    def run() -> None:
        try:
            out.append(func(*args))
        except Exception as exc:  # noqa: BLE001 - the test inspects what happened
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_kill_server_during_upload_then_resume(server_process, make_package):
    creds = server_process.add_station("tram-01")
    backup = server_process.with_backup()
    server_process.start()
    pkg = make_package()
    slow = _client(server_process, creds, chunk_size=16384, max_rate=150_000)  # ~3.5 s for the package
    thread, out = _in_thread(_send, slow, pkg)
    _wait_for(lambda: _part_size(server_process.data_dir) >= 100_000, what="part of the upload")
    server_process.kill()
    thread.join(30)
    assert isinstance(out[0], SyncError) and out[0].retry and out[0].status is None, out
    server_process.start()
    client = _client(server_process, creds)
    offsets = _put_offsets(client)
    receipt = _send(client, pkg)
    assert receipt.verdict == "accepted", receipt.reasons
    assert offsets and offsets[0] >= 16384, f"the upload restarted from scratch: {offsets}"
    assert_one_complete_copy(server_process.data_dir, pkg, backup=backup)


def assert_store_ledger_catalogue_agree(data_dir: Path, backup: Path | None = None) -> set[str]:
    """Every stored version has its ledger line and no line lacks its file (fixity walks the store and its
    backup), each is in the backup store too, and the catalogue holds exactly the packages the ledger names;
    returns their OBJIDs."""
    store = PackageStore(data_dir / "store", backup_root=backup)
    report = store.fixity()
    assert report.clean, report.to_dict()
    ledger = store.primary.entries()
    assert len({(e["objid"], e["version"]) for e in ledger}) == len(ledger) == len(store.primary.all_files())
    if store.backup:  # never a package in the primary store without its second copy
        assert [p.relative_to(store.primary.root) for p in store.primary.all_files()] == [
            p.relative_to(store.backup.root) for p in store.backup.all_files()]
        assert len(store.backup.entries()) == len(ledger)
    objids = {e["objid"] for e in ledger}
    catalogue = Catalog(data_dir / "catalog.db").packages()
    assert sorted(p["objid"] for p in catalogue) == sorted(objids), "catalogue and ledger disagree"
    return objids


def _kill_at_points(server_process, make_package, points, rounds: int) -> None:
    """For each round and named crash point: a new package, the server killed there, restarted (which
    reconciles), store = ledger = catalogue checked before the station sends again, then after. With a backup
    store, as in production: the chunks are written to its upload part first."""
    creds = server_process.add_station("tram-01")
    backup = server_process.with_backup()
    expected: set[str] = set()
    n = 0
    for _ in range(rounds):
        for point in points:
            n += 1
            server_process.start(env={ENV: point})
            pkg = make_package(notation=f"{300 + n}.VP")
            send = _client(server_process, creds).send
            with pytest.raises(SyncError) as err:
                send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})
            assert err.value.retry
            assert server_process.wait_dead() == -9, f"the server should have been killed at {point}"
            server_process.start()  # no crash point now: start-up reconciles store, ledger and catalogue
            found = assert_store_ledger_catalogue_agree(server_process.data_dir, backup)
            stored = point not in ("after-backup-chunk", "before-store")
            assert (pkg.objid in found) == stored, (point, "lost" if stored else "stored before the store step")
            if point == "after-backup-chunk":  # killed between the two writes: the chunk is on the backup only
                [part] = (backup / "uploads").glob("*.part")
                [upload] = (server_process.data_dir / "uploads").glob("*.part")
                assert part.stat().st_size > upload.stat().st_size == 0
            if point == "after-finish":  # the verdict was recorded: the restart removed the leftover part file
                assert not list((server_process.data_dir / "uploads").glob("*.part"))
            receipt = _client(server_process, creds).send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})
            assert receipt.verdict == "accepted", receipt.reasons
            assert receipt.stored_sha256 == pkg.sha256
            expected.add(pkg.objid)
            assert assert_store_ledger_catalogue_agree(server_process.data_dir, backup) == expected, "lost or twice"
            assert not list((backup / "uploads").glob("*.part")), "backup part left behind"
            server_process.stop()


def test_stored_upload_file_is_never_written_again(server_process, make_package):
    """The store keeps the upload file itself as the primary copy (a hard link): after a kill between store
    and receipt the upload is still open, and a chunk sent to it then must not touch the stored bytes."""
    creds = server_process.add_station("tram-01")
    server_process.start(env={ENV: "after-store"})
    pkg = make_package()
    with pytest.raises(SyncError):
        _send(_client(server_process, creds), pkg)
    assert server_process.wait_dead() == -9
    server_process.start()
    [part] = (server_process.data_dir / "uploads").glob("*.part")
    [stored] = (server_process.data_dir / "store" / "objects").rglob("*.zip")
    assert stored.stat().st_ino == part.stat().st_ino, "the primary copy is the upload file, not a second write"
    junk = b"\0" * 4096
    headers = {api.HEADER_STATION: "tram-01", "Authorization": f"Bearer {creds['token']}",
               api.HEADER_CHUNK_SHA256: hashlib.sha256(junk).hexdigest()}
    answer = requests.put(server_process.url + api.UPLOAD_CHUNK(part.stem, 0), data=junk, headers=headers, timeout=10)
    assert answer.status_code == 409 and answer.json()["error"] == api.ErrorCode.CONFLICT, answer.text
    assert hashlib.sha256(stored.read_bytes()).hexdigest().upper() == pkg.sha256
    receipt = _send(_client(server_process, creds), pkg)  # the station commits the upload it left
    assert receipt.verdict == "accepted", receipt.reasons
    assert_one_complete_copy(server_process.data_dir, pkg)


@pytest.mark.parametrize("point", POINTS)
def test_kill_server_at_each_step_of_the_commit(server_process, make_package, point):
    _kill_at_points(server_process, make_package, [point], rounds=2)


@pytest.mark.stress
def test_kill_server_at_every_step_many_times(server_process, make_package):
    _kill_at_points(server_process, make_package, POINTS, rounds=int(os.environ.get("SOHOA_KILL_ROUNDS", "40")))


def _kill_during_commit_trials(server_process, make_package, trials: int, seed: int) -> None:
    rng = random.Random(seed)
    creds = server_process.add_station("tram-01")
    server_process.start()
    headers = {api.HEADER_STATION: "tram-01", "Authorization": f"Bearer {creds['token']}"}
    for trial in range(trials):
        pkg = make_package(notation=f"{160 + trial}.VP")
        data = pkg.path.read_bytes()
        opened = requests.post(server_process.url + api.UPLOADS, json={"sha256": pkg.sha256, "size": pkg.size},
                               headers=headers, timeout=10).json()
        requests.put(server_process.url + api.UPLOAD_CHUNK(opened["upload_id"], 0), data=data, timeout=10,
                     headers={**headers, api.HEADER_CHUNK_SHA256: hashlib.sha256(data).hexdigest()})
        thread, _ = _in_thread(requests.post, server_process.url + api.UPLOAD_COMMIT(opened["upload_id"]))
        time.sleep(rng.uniform(0.0, 0.3))  # a commit takes about 0.2 s: anywhere in it, or just after
        server_process.kill()
        thread.join(30)
        server_process.start()
        receipt = _client(server_process, creds).send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})
        assert receipt.verdict == "accepted", (trial, receipt.reasons)
    store = PackageStore(server_process.data_dir / "store")
    assert len(store.primary.all_files()) == trials and store.fixity().clean
    assert len(store.primary.entries()) == trials
    assert len(Catalog(server_process.data_dir / "catalog.db").packages()) == trials
    assert not list((server_process.data_dir / "uploads").glob("*.part"))


def test_kill_server_during_commit_random_instants(server_process, make_package):
    _kill_during_commit_trials(server_process, make_package, trials=2, seed=1)


@pytest.mark.stress
def test_kill_server_during_commit_many_instants(server_process, make_package):
    _kill_during_commit_trials(server_process, make_package, trials=25, seed=int(time.time()))


def test_connection_cut_mid_chunk_then_resume(archive_server, make_package, cutting_proxy):
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    pkg = make_package()
    proxy = cutting_proxy(live.port)
    proxy.cut_after = 100_000  # inside the second 64 KiB chunk
    client = _client(proxy, creds, chunk_size=65536)
    with pytest.raises(SyncError) as err:
        _send(client, pkg)
    assert err.value.retry and proxy.cuts == 1
    [row] = ctx.db.query("SELECT received FROM uploads")
    assert row["received"] == 65536, "a chunk cut in the middle must not count"
    offsets = _put_offsets(client)
    receipt = _send(client, pkg)
    assert receipt.verdict == "accepted", receipt.reasons
    assert offsets[0] == 65536
    assert_one_complete_copy(ctx.config.data_dir, pkg)


def test_receipt_lost_on_the_way_back_then_same_receipt(archive_server, make_package, cutting_proxy):
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    pkg = make_package()
    proxy = cutting_proxy(live.port)
    proxy.drop_answer_to = b"/commit"
    client = _client(proxy, creds)
    with pytest.raises(SyncError):
        _send(client, pkg)
    _wait_for(lambda: ctx.db.query("SELECT state FROM uploads")[0]["state"] == "accepted", what="the commit")
    first = ctx.db.query("SELECT receipt FROM uploads")[0]["receipt"]
    receipt = _send(client, pkg)  # the station sends again: same upload, same signed receipt
    assert receipt.verdict == "accepted" and receipt.signature in first
    assert_one_complete_copy(ctx.config.data_dir, pkg)


# --- disk full: a small tmpfs mounted under the server's data folder ---------------------------------


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, f"mounting a tmpfs needs root (CAP_SYS_ADMIN): {done.stderr}"


def _remount(path: Path, size: str) -> None:
    done = subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def small_disk_server(tmp_path, demo_keys, live_server_class):
    """The real server app whose uploads/, store/ or backup/ (its backup store) folder is a tiny tmpfs:
    make(which) -> (live, ctx)."""
    from server.app import build_context, create_app
    from server.config import ServerConfig

    mounts: list[Path] = []
    lives: list = []

    def make(which: str, size: str):
        data = tmp_path / "server"
        _mount_tmpfs(data / which, size)
        mounts.append(data / which)
        backup = {"backup_dir": data / "backup"} if which == "backup" else {}
        ctx = build_context(ServerConfig(data_dir=data, trust_roots=[demo_keys.ca_pem], **backup))
        live = live_server_class(create_app(ctx)).__enter__()
        lives.append((live, ctx))
        return live, ctx

    yield make
    for live, ctx in lives:
        live.__exit__(None, None, None)
        close_context(ctx)
    for path in mounts:
        subprocess.run(["umount", "-l", str(path)], timeout=20, check=False)


def _send_until_disk_full(live, ctx, pkg):  # noqa: ANN001, ANN202
    """Send `pkg` to a server whose disk fills midway: 507, retry later, the upload left open part-way."""
    creds = ctx.db.add_station("tram-01")
    client = _client(live, creds, chunk_size=65536)
    with pytest.raises(SyncError) as err:
        _send(client, pkg)
    assert err.value.status == 507 and err.value.code == api.ErrorCode.DISK_FULL and err.value.retry
    [row] = ctx.db.query("SELECT id, received, state FROM uploads")
    assert row["state"] == "open" and 0 < row["received"] < pkg.size
    return client, row


def test_disk_full_during_upload_answers_507_and_retry_succeeds(small_disk_server, make_package):
    live, ctx = small_disk_server("uploads", "128k")
    pkg = make_package()
    client, _ = _send_until_disk_full(live, ctx, pkg)
    _remount(ctx.config.uploads_dir, "8m")  # the operator frees space; the station's next pass succeeds
    receipt = _send(client, pkg)
    assert receipt.verdict == "accepted", receipt.reasons
    assert_one_complete_copy(ctx.config.data_dir, pkg)


def test_disk_full_on_the_backup_media_during_upload_answers_507(small_disk_server, make_package):
    """A chunk counts once it is on both media: a full backup disk answers 507 as a full uploads disk does,
    the chunk is not counted, and the upload resumes once there is room (its backup part is then the copy)."""
    live, ctx = small_disk_server("backup", "128k")
    pkg = make_package()
    assert pkg.size > 256 * 1024, "the package must not fit the backup disk"
    client, row = _send_until_disk_full(live, ctx, pkg)
    assert (ctx.config.uploads_dir / f"{row['id']}.part").stat().st_size == row["received"], "counted: on both"
    _remount(ctx.config.data_dir / "backup", "8m")
    part = ctx.store.upload_part(row["id"])
    offsets = _put_offsets(client)
    receipt = _send(client, pkg)
    assert receipt.verdict == "accepted", receipt.reasons
    assert offsets[0] == row["received"], "the upload resumes where it stopped"
    assert not part.exists() and ctx.store.get(pkg.objid).backup_path
    assert_one_complete_copy(ctx.config.data_dir, pkg, backup=ctx.config.data_dir / "backup")


def test_disk_full_in_the_store_during_commit_answers_507(small_disk_server, make_package):
    live, ctx = small_disk_server("store", "256k")
    creds = ctx.db.add_station("tram-01")
    pkg = make_package()
    client = _client(live, creds)
    with pytest.raises(SyncError) as err:
        _send(client, pkg)
    assert err.value.status == 507 and err.value.retry
    [row] = ctx.db.query("SELECT state, receipt FROM uploads")
    assert row["state"] == "open" and row["receipt"] is None, "no verdict may be given on a full disk"
    assert not [p for p in (ctx.config.store_dir / "objects").rglob("*") if p.is_file()]
    assert not list((ctx.config.store_dir / "tmp").iterdir()), "the half-written copy must be removed"
    assert ctx.catalog.packages() == []
    _remount(ctx.config.store_dir, "8m")
    receipt = _send(client, pkg)
    assert receipt.verdict == "accepted", receipt.reasons
    assert_one_complete_copy(ctx.config.data_dir, pkg)


# --- clocks -------------------------------------------------------------------------------------------


def test_receipt_from_a_server_clock_days_ahead_is_accepted(server_process, make_package):
    # libfaketime preloaded into the server process itself (the `faketime` wrapper would fork a child
    # that outlives the wrapper when it is stopped)
    libs = sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))
    assert libs, "libfaketime is needed to run the server with a skewed clock: apt-get install faketime"
    creds = server_process.add_station("tram-01")
    server_process.start(env={"LD_PRELOAD": str(libs[0]), "FAKETIME": "+3d"})
    pkg = make_package()
    receipt = _send(_client(server_process, creds), pkg)
    assert receipt.verdict == "accepted", receipt.reasons
    skew = parse_iso(receipt.received_at) - now_vn()
    assert 2.9 * 86400 < skew.total_seconds() < 3.1 * 86400, receipt.received_at
    assert_one_complete_copy(server_process.data_dir, pkg)


def test_same_package_twice_from_two_stations_is_stored_once(server_process, make_package):
    a = server_process.add_station("tram-01")
    b = server_process.add_station("tram-02")
    server_process.start()
    pkg = make_package()
    first = _send(_client(server_process, a), pkg)
    again = _send(_client(server_process, a), pkg)
    other = _send(_client(server_process, b), pkg)
    assert first.verdict == again.verdict == other.verdict == "accepted"
    assert first.signature == again.signature and other.upload_id != first.upload_id
    assert_one_complete_copy(server_process.data_dir, pkg)
    assert os.environ.get(ENV) is None


def _fill(folder: Path) -> Path:
    """Fill the file system holding `folder` to the last byte."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:
                handle.write(b"\0")
        except OSError:
            pass
    return filler


def test_disk_full_when_opening_an_upload_answers_507(small_disk_server, make_package):
    """The records' own write (a new upload row) on a full disk: 507 with a message, not a 500."""
    live, ctx = small_disk_server("", "8m")  # the whole data folder on a small disk
    creds = ctx.db.add_station("tram-01")
    pkg = make_package()
    filler = _fill(ctx.config.data_dir)
    client = _client(live, creds)
    with pytest.raises(SyncError) as err:
        _send(client, pkg)
    assert err.value.status == 507 and err.value.code == api.ErrorCode.DISK_FULL and err.value.retry, err.value
    filler.unlink()  # space freed: the station's next pass succeeds
    receipt = _send(client, pkg)
    assert receipt.verdict == "accepted", receipt.reasons
    assert_one_complete_copy(ctx.config.data_dir, pkg)
