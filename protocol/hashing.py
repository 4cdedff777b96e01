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


def copy_hashing(src: str | Path, dest: str | Path) -> tuple[str, int]:
    """Copy `src` to `dest` (fsynced), hashing the bytes as they pass: (UPPER hex SHA-256, size)."""
    digest, size = hashlib.sha256(), 0
    with open(src, "rb") as inp, open(dest, "wb") as out:
        while block := inp.read(CHUNK):
            digest.update(block)
            out.write(block)
            size += len(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest().upper(), size
