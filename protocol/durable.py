"""Write files so that what we acknowledge survives a crash: temp file, fsync, rename, fsync dir."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | Path, data: bytes | memoryview, *, mode: int | None = None,
                 gid: int | None = None) -> None:
    """Replace `path` with `data` in one step; the old or the new content, never half.

    `mode` / `gid`: set on the temp file (created 0600) before the rename, so a secret is never readable by
    others, not even for a moment. A failed write leaves no temp file behind."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if mode is not None else 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if gid is not None and gid != os.getegid():
            os.chown(tmp, -1, gid)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def move_atomic(src: str | Path, dst: str | Path) -> None:
    """Move a finished file into place (same filesystem: rename; else copy, fsync, rename)."""
    src, dst = Path(src), Path(dst)
    try:
        os.replace(src, dst)
    except OSError:
        tmp = dst.with_name(f".{dst.name}.part")
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, dst)
        os.unlink(src)
    fsync_dir(dst.parent)
