"""SHA-256 of files, in the upper-case hex that METS and PREMIS carry."""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

CHUNK = 4 << 20  # large blocks: fewer Python round trips per GB (hashlib and I/O release the GIL)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest().upper()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest().upper()


def copy_hashing(src: str | Path, *dests: str | Path, stop: threading.Event | None = None) -> tuple[str, int]:
    """Copy `src` to each of `dests` (one read and one hash for every copy; none: only hash it), fsynced,
    hashing the bytes as they pass: (UPPER hex SHA-256, size). `stop` set: gives up between blocks
    (Stopped), the copies left half written for the caller to remove."""
    digest, size = hashlib.sha256(), 0
    outs = []
    try:
        with open(src, "rb") as inp:
            for path in dests:
                outs.append(open(path, "wb"))  # closed below, however many there are
            while block := inp.read(CHUNK):
                if stop is not None and stop.is_set():
                    raise Stopped(f"copy of {src} stopped")
                digest.update(block)
                for out in outs:
                    out.write(block)
                size += len(block)
        for out in outs:
            out.flush()
            os.fsync(out.fileno())
    finally:
        for out in outs:
            out.close()
    return digest.hexdigest().upper(), size


def hash_unbuffered(path: str | Path, *, stop: threading.Event | None = None) -> tuple[str, int]:
    """(UPPER hex SHA-256, size) of a file read past the page cache (O_DIRECT) while the next block is read
    ahead in a thread: for a file written that way and read once (server.ingest.uploads), a cold buffered read
    would cost the kernel its page cache fill. A file system without O_DIRECT is read the usual way."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return copy_hashing(path, stop=stop)
    digest, size = hashlib.sha256(), 0
    buffers = [mmap.mmap(-1, CHUNK), mmap.mmap(-1, CHUNK)]  # page-aligned, as O_DIRECT wants
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="sohoa-read") as reader:
            pending: Future[int] | None = reader.submit(os.preadv, fd, [buffers[0]], 0)
            turn = 0
            while pending is not None:
                try:
                    got = pending.result()
                except OSError as exc:
                    if exc.errno == errno.EINVAL and size == 0:  # O_DIRECT taken but not these reads
                        return copy_hashing(path, stop=stop)
                    raise
                if stop is not None and stop.is_set():
                    raise Stopped(f"hash of {path} stopped")
                # a short read is the end of the file (it is not written meanwhile)
                pending = reader.submit(os.preadv, fd, [buffers[1 - turn]], size + got) if got == CHUNK else None
                digest.update(memoryview(buffers[turn])[:got])
                size += got
                turn = 1 - turn
    finally:
        os.close(fd)
    return digest.hexdigest().upper(), size


class Stopped(Exception):
    """copy_hashing was asked to stop before the end."""
