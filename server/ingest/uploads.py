"""Upload bookkeeping on disk: partial files written at an offset and fsynced before they are counted.
A commit hands the finished file to the store, which links it as the stored primary copy; the upload's
backup part (server.store.storage.PackageStore.upload_part), written beside it chunk by chunk, becomes the
backup copy."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import mmap
import os
import threading
from collections.abc import Callable
from pathlib import Path

from protocol.durable import fsync_dir
from server.faults import crash_point


def part_path(uploads_dir: Path, upload_id: str) -> Path:
    if not upload_id.isalnum():  # ids are uuid4 hex; anything else never reaches the filesystem
        raise ValueError("bad upload id")
    return uploads_dir / f"{upload_id}.part"


class PartStored(Exception):
    """The upload's file is also a stored package (the store links it, server.store.storage.Staging): a
    commit was cut short after storing it. Its bytes are the archive's now: it is committed, never written."""


def write_chunk(path: Path, offset: int, data: bytes, *, backup: Path | None = None) -> int:
    """Write `data` at `offset`, truncate anything after it, fsync; returns the new length. `backup`: the
    upload's backup part, written the same way first (see _write_backup); its fsync runs beside this write
    (both done before this returns: the chunk is counted once it is on both media)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        stat = os.fstat(fd)
        if stat.st_nlink > 1:
            raise PartStored(str(path))
        synced = _write_backup(backup, offset, data, stat.st_size) if backup is not None else None
        try:
            crash_point("after-backup-chunk")  # the chunk on the backup media only, not counted
            _write_at(fd, offset, data)
            os.fsync(fd)
        finally:
            if synced is not None:
                synced()
    finally:
        os.close(fd)
    if new:
        fsync_dir(path.parent)
    return offset + len(data)


ALIGN = 4096  # O_DIRECT wants offsets, lengths and memory aligned to the device's block (512 or 4096 bytes)
DIRECT_BUFFER = 4 << 20
_buffers = threading.local()  # one page-aligned buffer per request thread, reused


def _write_at(fd: int, offset: int, data: bytes) -> None:
    """`data` at `offset`, the file truncated after it (not fsynced). The block-aligned middle goes past the
    page cache (O_DIRECT): a buffered write costs the kernel several times the CPU (page cache, writeback)
    and these bytes are read at most once more (docs/bench/archive.md). The unaligned ends, and everything on a
    file system without O_DIRECT, are written through the page cache."""
    end = offset + len(data)
    first, last = -(-offset // ALIGN) * ALIGN, end // ALIGN * ALIGN
    view = memoryview(data)
    if last - first >= ALIGN and _write_direct(fd, first, view[first - offset : last - offset]):
        _pwrite(fd, view[: first - offset], offset)
        _pwrite(fd, view[last - offset :], last)
    else:
        _pwrite(fd, view, offset)
    os.ftruncate(fd, end)


def _pwrite(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _write_direct(fd: int, offset: int, view: memoryview) -> bool:
    """Write the aligned `view` at the aligned `offset` with O_DIRECT set on `fd` for the time; False (nothing
    written) when the file system refuses it."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return False
        raise
    try:
        buffer = getattr(_buffers, "buffer", None)
        if buffer is None:
            buffer = _buffers.buffer = mmap.mmap(-1, DIRECT_BUFFER)  # anonymous mmap: page-aligned
        for at in range(0, len(view), DIRECT_BUFFER):
            piece = view[at : at + DIRECT_BUFFER]
            buffer[: len(piece)] = piece
            try:
                written = os.pwrite(fd, memoryview(buffer)[: len(piece)], offset + at)
            except OSError as exc:
                if exc.errno == errno.EINVAL and at == 0:  # O_DIRECT taken but not these sizes: buffered
                    return False
                raise
            if written != len(piece):  # a regular file writes short only when its disk is full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)
    return True


def _write_backup(part: Path, offset: int, data: bytes, upload_size: int) -> Callable[[], None] | None:
    """Keep the backup part equal to the upload file's `upload_size` bytes (a kill between the two writes may
    leave it longer, never different below that): a chunk continuing the upload file is written at its offset
    (a full disk raises here, before the upload file is written: the chunk is not counted). A part that
    cannot stay equal is removed and not started again: a chunk rewriting bytes already received, a part
    missing the upload's start (swept at a restart), or shorter than the upload file. The commit then copies
    the upload file; it also hashes a part before taking it, so this rule decides only the speed, never the
    bytes stored. Returns the wait for the part's fsync, started in a thread (it leaves the GIL), which
    raises what the fsync raised."""
    try:
        have: int | None = part.stat().st_size
    except FileNotFoundError:
        have = None
    if offset < upload_size or (have is None and offset > 0) or (have is not None and have < offset):
        if have is not None:
            part.unlink(missing_ok=True)
            fsync_dir(part.parent)
        return None
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _write_at(fd, offset, data)
    except BaseException:
        os.close(fd)
        raise
    failed: list[BaseException] = []

    def sync() -> None:
        try:
            os.fsync(fd)
            if have is None:
                fsync_dir(part.parent)
        except BaseException as exc:  # noqa: BLE001 - raised by the wait, in the request's thread
            failed.append(exc)
        finally:
            os.close(fd)

    thread = threading.Thread(target=sync, name="sohoa-backup-fsync")
    thread.start()

    def wait() -> None:
        thread.join()
        if failed:
            raise failed[0]

    return wait


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
