"""SHA-256 of files, in the upper-case hex that METS and PREMIS carry."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest().upper()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest().upper()


def copy_hashing(src: str | Path, dest: str | Path, *more: str | Path) -> tuple[str, int]:
    """Copy `src` to `dest` (and to each of `more`: one read and one hash for every copy), fsynced, hashing
    the bytes as they pass: (UPPER hex SHA-256, size)."""
    digest, size = hashlib.sha256(), 0
    outs = []
    try:
        with open(src, "rb") as inp:
            for path in (dest, *more):
                outs.append(open(path, "wb"))  # closed below, however many there are
            while block := inp.read(CHUNK):
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
