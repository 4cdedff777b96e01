"""The package store: atomic puts (even under kill -9), versions, the backup copy, fixity audits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from protocol.hashing import sha256_file
from server.store.storage import PackageStore, StorageError
from tests.support.wait import wait_until

OBJID = "urn:G09:uuid-0F203B84-6641-4CDA-9F52-DAAE55FEF6B1"


def _file(path: Path, data: bytes) -> tuple[Path, str]:
    path.write_bytes(data)
    return path, sha256_file(path)


def test_put_get_backup_and_idempotence(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "store", backup_root=tmp_path / "backup")
    src, sha = _file(tmp_path / "p.zip", b"package one" * 1000)
    stored = store.put(src, objid=OBJID, sha256=sha.lower())
    assert stored.sha256 == sha and stored.size == 11000 and stored.version == 1
    assert stored.path.read_bytes() == src.read_bytes()
    assert stored.backup_path and sha256_file(stored.backup_path) == sha
    assert stored.path.parent.name == "urn_G09_uuid-0F203B84-6641-4CDA-9F52-DAAE55FEF6B1"
    again = store.put(src, objid=OBJID, sha256=sha)
    assert again.path == stored.path and len(store.versions(OBJID)) == 1
    assert store.get(OBJID).path == stored.path and store.get("uuid-NOPE") is None


def test_replacement_keeps_history(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "store")
    first, sha1 = _file(tmp_path / "a.zip", b"first scan")
    second, sha2 = _file(tmp_path / "b.zip", b"re-scanned")
    store.put(first, objid=OBJID, sha256=sha1)
    v2 = store.put(second, objid=OBJID, sha256=sha2)
    assert v2.version == 2 and store.get(OBJID).sha256 == sha2
    assert [v.sha256 for v in store.versions(OBJID)] == [sha1, sha2]
    assert store.get(OBJID, version=1).path.read_bytes() == b"first scan"


def test_hash_mismatch_leaves_nothing_visible(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "store", backup_root=tmp_path / "backup")
    src, sha = _file(tmp_path / "p.zip", b"bytes")
    with pytest.raises(StorageError, match="hash mismatch"):
        store.put(src, objid=OBJID, sha256="0" * 64)
    assert store.get(OBJID) is None
    for root in (tmp_path / "store", tmp_path / "backup"):
        assert not list((root / "objects").rglob("*.zip")) and not list((root / "tmp").iterdir())
    assert store.fixity().checked == 0
    store.put(src, objid=OBJID, sha256=sha)  # positive control: with the right hash the same probes see it
    assert store.get(OBJID) is not None and store.fixity().checked >= 1
    for root in (tmp_path / "store", tmp_path / "backup"):
        assert list((root / "objects").rglob("*.zip")), root


def test_unsafe_objid_refused(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "store")
    src, sha = _file(tmp_path / "p.zip", b"x")
    with pytest.raises(StorageError):
        store.put(src, objid="../../etc", sha256=sha)


def test_kill_9_mid_put_leaves_nothing_visible(tmp_path: Path) -> None:
    """The writer is killed while copying (its input is a pipe we never finish): no partial package."""
    fifo = tmp_path / "incoming.zip"
    os.mkfifo(fifo)
    script = textwrap.dedent(f"""
        from pathlib import Path
        from server.store.storage import PackageStore
        PackageStore(Path({str(tmp_path / 'store')!r}), backup_root=Path({str(tmp_path / 'backup')!r})).put(
            Path({str(fifo)!r}), objid={OBJID!r}, sha256="A" * 64)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        with open(fifo, "wb") as pipe:
            pipe.write(b"x" * (1 << 20))  # the child is now mid-copy, blocked on the pipe
            pipe.flush()
            wait_until(lambda: list((tmp_path / "backup" / "tmp").glob("*.part")), 30, "the child to start writing")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    store = PackageStore(tmp_path / "store", backup_root=tmp_path / "backup")  # restart
    assert store.get(OBJID) is None
    for root in (tmp_path / "store", tmp_path / "backup"):
        assert not list((root / "objects").rglob("*.zip"))
        assert not list((root / "tmp").iterdir()), "restart must clear the crashed temp file"
    assert store.fixity().clean


def test_fixity_detects_flipped_byte_and_missing_copy(tmp_path: Path, make_package) -> None:
    store = PackageStore(tmp_path / "store", backup_root=tmp_path / "backup")
    stored = []
    for n in range(3):
        pkg = make_package(notation=f"{160 + n}.VP")
        stored.append(store.put(pkg.path, objid=pkg.objid, sha256=pkg.sha256))
    report = store.fixity()
    assert report.clean and report.checked == 6 and report.intact == 6 and report.ok, report
    data = bytearray(stored[1].path.read_bytes())
    data[2000] ^= 0x01
    stored[1].path.write_bytes(bytes(data))
    stored[2].backup_path.unlink()
    report = store.fixity()
    assert not report.clean
    assert [c["path"] for c in report.changed] == [str(stored[1].path)]
    assert [m["path"] for m in report.missing] == [str(stored[2].backup_path)]
    assert report.to_dict()["ok"] is False
    sampled = store.fixity(sample=1, seed=3)
    assert sampled.checked == 2


def test_handed_over_file_is_linked_and_backup_written_while_checks_run(tmp_path: Path) -> None:
    """Ingest hands its upload file over: the primary copy is that very file (a hard link, no second write on
    the primary disk), the backup copy is written and hashed by the staging thread before put is called."""
    store = PackageStore(tmp_path / "store", backup_root=tmp_path / "backup")
    src, sha = _file(tmp_path / "upload.part", b"package one" * 100_000)
    staging = store.stage(src, sha, link=True)
    assert staging.result() == (sha, src.stat().st_size)  # done before put: it ran beside the checks
    stored = store.put(src, objid=OBJID, sha256=sha, staging=staging)
    assert stored.path.stat().st_ino == src.stat().st_ino and src.stat().st_nlink == 2
    assert stored.backup_path and stored.backup_path.stat().st_ino != src.stat().st_ino
    assert sha256_file(stored.backup_path) == sha
    assert not list((tmp_path / "store" / "tmp").iterdir()) and not list((tmp_path / "backup" / "tmp").iterdir())
    assert store.fixity(manifests=False).clean  # these bytes are no zip: the files and the ledger only


def test_discarded_staging_leaves_no_temp_and_bad_bytes_are_not_stored(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "store", backup_root=tmp_path / "backup")
    src, sha = _file(tmp_path / "upload.part", b"x" * 300_000)
    store.stage(src, sha, link=True).discard()  # a rejected package
    with pytest.raises(StorageError):
        store.put(src, objid=OBJID, sha256="0" * 64, staging=store.stage(src, "0" * 64, link=True))
    assert src.stat().st_nlink == 1 and store.get(OBJID) is None
    for tree in ("store", "backup"):
        assert not list((tmp_path / tree / "tmp").iterdir())
        assert not list((tmp_path / tree / "objects").rglob("*.zip"))


def test_a_live_copy_survives_another_process_starting_on_the_store(tmp_path: Path) -> None:
    """Copies are written outside the store lock while the checks run: another server process (or a CLI
    command) opening the same store removes only the temp files nobody holds."""
    store = PackageStore(tmp_path / "store", backup_root=tmp_path / "backup")
    left = tmp_path / "store" / "tmp" / "leftover.part"
    left.write_bytes(b"from a crash")
    src, sha = _file(tmp_path / "upload.part", b"y" * 200_000)
    staging = store.stage(src, sha)  # not linked: both copies written by the thread
    staging.result()
    temps = sorted((tmp_path / "store" / "tmp").glob("*.part")) + sorted((tmp_path / "backup" / "tmp").glob("*.part"))
    PackageStore(tmp_path / "store", backup_root=tmp_path / "backup")  # cleans what a crash left
    assert not left.exists() and all(t.exists() for t in temps if t != left)
    stored = store.put(src, objid=OBJID, sha256=sha, staging=staging)
    assert sha256_file(stored.path) == sha and stored.path.stat().st_ino != src.stat().st_ino
