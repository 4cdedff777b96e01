"""The backup copy written while the upload arrives (issue #15 point 8): each chunk goes to the upload's backup
part on the backup media, then to the upload file; at commit the part is hashed and renamed into the backup
store instead of copying the package again. A part that is missing, short or different is never taken: the
commit copies the upload file as before. Parts go with their upload (refused, hash mismatch, expired, swept
at a restart). Real server app over HTTP, with a backup store."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from protocol import api
from protocol.hashing import sha256_file

FILE_CODE = "000.00.00.H47.2001.160.VP"


@dataclass
class Backed:
    live: Any
    ctx: Any
    token: str


@pytest.fixture
def backed(tmp_path, demo_keys) -> Iterator[Backed]:
    """The real server app with a backup store (backup_dir), on a free port, and one station."""
    from server.app import build_context
    from server.config import ServerConfig
    from tests.support.servers import serving

    config = ServerConfig(data_dir=tmp_path / "server", trust_roots=[demo_keys.ca_pem],
                          backup_dir=tmp_path / "backup")
    ctx = build_context(config)
    token = ctx.db.add_station("tram-01")["token"]
    with serving(ctx) as live:
        yield Backed(live, ctx, token)


class _Upload:
    """One upload driven chunk by chunk over HTTP."""

    def __init__(self, backed: Backed, pkg, *, sha256: str | None = None, **manifest):
        self.live, self.data = backed.live, pkg.path.read_bytes()
        self.headers = {api.HEADER_STATION: "tram-01", "Authorization": f"Bearer {backed.token}"}
        opened = requests.post(self.live.url + api.UPLOADS, json={"sha256": sha256 or pkg.sha256,
                                                                   "size": len(self.data), **manifest},
                               headers=self.headers, timeout=10)
        assert opened.status_code == 201, opened.text
        self.id = opened.json()["upload_id"]
        self.part = backed.ctx.config.uploads_dir / f"{self.id}.part"
        self.backup_part = backed.ctx.store.upload_part(self.id)

    def put(self, start: int, end: int) -> requests.Response:
        chunk = self.data[start:end]
        return requests.put(self.live.url + api.UPLOAD_CHUNK(self.id, start), data=chunk, timeout=10,
                            headers={**self.headers, api.HEADER_CHUNK_SHA256: hashlib.sha256(chunk).hexdigest()})

    def put_all(self, size: int = 65536) -> None:
        for start in range(0, len(self.data), size):
            answer = self.put(start, start + size)
            assert answer.status_code == 200, answer.text

    def commit(self) -> requests.Response:
        return requests.post(self.live.url + api.UPLOAD_COMMIT(self.id), headers=self.headers, timeout=60)


def _both_copies_right(ctx, pkg) -> Path:
    """The package stored in both stores, intact, fixity clean; no part left; returns the backup copy."""
    stored = ctx.store.get(pkg.objid)
    assert stored and stored.sha256 == pkg.sha256 and stored.backup_path
    assert sha256_file(stored.path) == sha256_file(stored.backup_path) == pkg.sha256
    assert ctx.store.fixity().clean
    assert not list(ctx.store.backup_uploads.iterdir()) and not list(ctx.config.uploads_dir.glob("*.part"))
    return stored.backup_path


def test_backup_copy_is_the_part_written_while_the_upload_arrived(backed, make_package):
    pkg = make_package()
    up = _Upload(backed, pkg, file_code=FILE_CODE)
    up.put_all()
    assert up.backup_part.read_bytes() == up.part.read_bytes() == up.data  # both media hold every chunk
    inode = up.backup_part.stat().st_ino
    answer = up.commit()
    assert answer.status_code == 200 and answer.json()["state"] == "accepted", answer.text
    backup = _both_copies_right(backed.ctx, pkg)
    assert backup.stat().st_ino == inode, "the backup copy is the streamed part, renamed: no second write"


@pytest.mark.parametrize("damage", ["missing", "short", "different"])
def test_commit_copies_the_upload_file_when_the_part_is_not_whole(backed, make_package, damage, caplog):
    pkg = make_package()
    up = _Upload(backed, pkg, file_code=FILE_CODE)
    up.put_all()
    if damage == "missing":  # e.g. no backup store when the chunks came
        up.backup_part.unlink()
    elif damage == "short":
        with open(up.backup_part, "r+b") as handle:
            handle.truncate(len(up.data) - 1)
    else:  # same size, one byte changed: only the hash tells
        raw = bytearray(up.backup_part.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        up.backup_part.write_bytes(bytes(raw))
    inode = up.backup_part.stat().st_ino if up.backup_part.exists() else None
    answer = up.commit()
    assert answer.status_code == 200 and answer.json()["state"] == "accepted", answer.text
    backup = _both_copies_right(backed.ctx, pkg)  # the damaged part is removed with the upload
    assert backup.stat().st_ino != inode
    if damage == "different":
        assert "does not hash to" in caplog.text


def test_a_rewritten_chunk_drops_the_part(backed, make_package):
    """A chunk sent again below what was received (a retry whose first copy arrived) rewrites the upload
    file: the part stops there, and the commit copies."""
    pkg = make_package()
    up = _Upload(backed, pkg, file_code=FILE_CODE)
    assert up.put(0, 65536).status_code == 200 and up.backup_part.stat().st_size == 65536
    assert up.put(0, 65536).status_code == 200
    assert not up.backup_part.exists()
    for start in range(65536, len(up.data), 65536):
        assert up.put(start, start + 65536).status_code == 200
    assert not up.backup_part.exists(), "a part missing the upload's start is never started again"
    assert up.commit().json()["state"] == "accepted"
    _both_copies_right(backed.ctx, pkg)


def test_part_removed_when_the_package_is_refused(backed, make_package):
    pkg = make_package()
    up = _Upload(backed, pkg, file_code="000.00.00.H47.2001.999.VP")  # the manifest names another hồ sơ
    up.put_all()
    assert up.backup_part.exists()  # positive control: it was there until the verdict
    answer = up.commit()
    assert answer.json()["state"] == "rejected", answer.text
    assert not up.backup_part.exists() and not up.part.exists()
    assert backed.ctx.store.get(pkg.objid) is None


def test_part_removed_on_a_package_hash_mismatch(backed, make_package):
    pkg = make_package()
    other = make_package(notation="161.VP")
    up = _Upload(backed, pkg, sha256=other.sha256)  # the manifest's hash is not these bytes'
    up.put_all()
    assert up.backup_part.exists()
    answer = up.commit()
    assert answer.status_code == 409 and answer.json()["error"] == api.ErrorCode.PACKAGE_HASH
    assert not up.backup_part.exists() and not up.part.exists()


def test_part_removed_when_the_upload_expires(backed, make_package):
    pkg = make_package()
    up = _Upload(backed, pkg)
    assert up.put(0, 65536).status_code == 200 and up.backup_part.exists()
    with backed.ctx.db.tx() as conn:  # three days without a chunk
        conn.execute("UPDATE uploads SET updated_at = '2020-01-01T00:00:00.000+07:00' WHERE id = ?", (up.id,))
    _Upload(backed, make_package(notation="161.VP"))  # opening another upload expires the stale one
    assert backed.ctx.db.upload(up.id)["state"] == "expired"
    assert not up.backup_part.exists() and not up.part.exists()


def test_start_sweeps_parts_no_open_upload_owns(backed, make_package):
    """A restart (any server sharing the store) removes leftover parts and keeps an open upload's, which
    the upload then finishes and the commit takes."""
    from server.app import create_app

    ctx = backed.ctx
    pkg = make_package()
    up = _Upload(backed, pkg, file_code=FILE_CODE)
    assert up.put(0, 65536).status_code == 200
    leftover = ctx.store.upload_part("0" * 32)
    leftover.write_bytes(b"from a crash after a commit")
    create_app(ctx)  # the ingest blueprint's start-up sweep
    assert not leftover.exists() and up.backup_part.stat().st_size == 65536
    inode = up.backup_part.stat().st_ino
    for start in range(65536, len(up.data), 65536):
        assert up.put(start, start + 65536).status_code == 200
    assert up.commit().json()["state"] == "accepted"
    assert _both_copies_right(ctx, pkg).stat().st_ino == inode


def test_chunks_of_any_size_and_offset_give_the_same_bytes_in_both_files(tmp_path) -> None:
    """The chunk writer (aligned middle past the page cache, unaligned ends buffered) against a plain model:
    chunks of odd sizes, a few resent below what was received; the upload file always holds the bytes, the
    backup part the same bytes or nothing (dropped at a rewrite). The part's hash reads past the page cache."""
    import os
    import random

    from protocol.hashing import hash_unbuffered
    from server.ingest.uploads import ALIGN, write_chunk

    rng = random.Random(7)
    data = rng.randbytes(3 * 1024 * 1024 + 123)
    kept = 0
    for trial in range(12):
        part, backup = tmp_path / f"u{trial}.part", tmp_path / f"b{trial}.part"
        offset = 0
        rewrites = trial % 3 == 0
        while offset < len(data):
            size = rng.choice([1, 100, ALIGN, ALIGN + 1, 65536, 1 << 20, rng.randint(1, 2 << 20)])
            size = min(size, len(data) - offset)
            assert write_chunk(part, offset, data[offset : offset + size], backup=backup) == offset + size
            offset += size
            if rewrites and rng.random() < 0.2:
                offset = rng.randint(0, offset)
        assert part.read_bytes() == data, trial
        if backup.exists():
            kept += 1
            assert backup.read_bytes() == data, trial
            assert hash_unbuffered(backup) == (sha256_file(part), len(data))
        else:
            assert rewrites, "only a rewrite drops the part"
    assert kept >= 8, "the parts of uploads without rewrites are kept"
    assert hash_unbuffered(tmp_path / "u0.part")[1] == os.path.getsize(tmp_path / "u0.part")
