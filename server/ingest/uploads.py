"""Upload bookkeeping on disk: partial files written at an offset and fsynced before they are counted.
A commit hands the finished file to the store, which links it as the stored primary copy."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from protocol.durable import fsync_dir


def part_path(uploads_dir: Path, upload_id: str) -> Path:
    if not upload_id.isalnum():  # ids are uuid4 hex; anything else never reaches the filesystem
        raise ValueError("bad upload id")
    return uploads_dir / f"{upload_id}.part"


class PartStored(Exception):
    """The upload's file is also a stored package (the store links it, server.store.storage.Staging): a
    commit was cut short after storing it. Its bytes are the archive's now: it is committed, never written."""


def write_chunk(path: Path, offset: int, data: bytes) -> int:
    """Write `data` at `offset`, truncate anything after it, fsync; returns the new length."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "r+b" if not new else "w+b") as handle:
        if os.fstat(handle.fileno()).st_nlink > 1:
            raise PartStored(str(path))
        handle.seek(offset)
        handle.write(data)
        handle.truncate(offset + len(data))
        handle.flush()
        os.fsync(handle.fileno())
    if new:
        fsync_dir(path.parent)
    return offset + len(data)


def sweep_parts(uploads_dir: Path, open_ids: set[str] | Callable[[], set[str]]) -> list[str]:
    """Remove partial files that no open upload owns (left by a crash after a commit); returns them.

    `open_ids` may be a function, called after the folder is listed: an upload's row is committed before
    its first chunk, so a part file another server sharing the folder creates meanwhile is never taken
    for a leftover."""
    removed = []
    if uploads_dir.is_dir():
        parts = list(uploads_dir.glob("*.part"))
        owned = open_ids() if callable(open_ids) else open_ids
        for part in parts:
            if part.stem not in owned:
                part.unlink(missing_ok=True)
                removed.append(part.name)
    return removed


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest().upper()
