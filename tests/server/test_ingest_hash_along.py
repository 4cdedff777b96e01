"""The package's running hash while receiving (server/ingest/api.py): fed beside each chunk's write, kept
only once the chunk is on disk, dropped as soon as a chunk does not continue the hashed bytes."""

from __future__ import annotations

import hashlib

from server.ingest import api


def test_running_hash_is_the_package_hash_and_a_failed_write_changes_nothing() -> None:
    data = bytes(range(256)) * 40_000
    parts = [data[i:i + 1_000_000] for i in range(0, len(data), 1_000_000)]
    offset = 0
    for n, part in enumerate(parts):
        hashing = api._HashAlong("up1", offset, part)
        if n == 3:  # the write of this chunk failed (disk full): keep() never runs; the station resends it
            hashing = api._HashAlong("up1", offset, part)
        hashing.keep()
        offset += len(part)
    hashed, digest = api._running.pop("up1")
    assert hashed == len(data) and digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_chunk_out_of_order_drops_the_running_hash() -> None:
    api._HashAlong("up2", 0, b"a" * 100).keep()
    api._HashAlong("up2", 50, b"b" * 100).keep()  # a resend from the middle: the commit hashes the file
    assert "up2" not in api._running
    api._HashAlong("up2", 0, b"c" * 10).keep()  # from the start again: hashed anew
    hashed, digest = api._running.pop("up2")
    assert hashed == 10 and digest.hexdigest() == hashlib.sha256(b"c" * 10).hexdigest()
