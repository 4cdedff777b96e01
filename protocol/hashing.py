"""SHA-256 of files, in the upper-case hex that METS and PREMIS carry."""

from __future__ import annotations

import hashlib
import os
import threading
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


class Stopped(Exception):
    """copy_hashing was asked to stop before the end."""
