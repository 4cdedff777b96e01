"""Private scratch folders in the system's temporary directory, named after the process that owns them.

A process killed with kill -9 (or by the out-of-memory killer) never runs its cleanup, so a server that
checks a 1 GB package would leave a copy of its PDFs behind on every such death. The owner's pid in the name
lets the next start remove exactly the folders whose owner is gone, and never one a live process (another
server sharing the machine, a station) is still using. A reused pid keeps a dead folder one more round: a
leftover, never a folder removed under a live owner.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

_NAME = re.compile(r"sohoa-([a-z]+)-(\d+)-[A-Za-z0-9_]+")


def _prefix(kind: str) -> str:
    if not re.fullmatch(r"[a-z]+", kind):
        raise ValueError(f"scratch kind must be lower-case letters: {kind!r}")
    return f"sohoa-{kind}-{os.getpid()}-"


def scratch_dir(kind: str) -> Path:
    """A new private folder `sohoa-KIND-PID-XXXXXXXX` (KIND: lower-case letters) in the temporary directory."""
    return Path(tempfile.mkdtemp(prefix=_prefix(kind)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def sweep_scratch(root: Path | None = None) -> list[str]:
    """Remove the scratch folders of processes that no longer run; returns their names. Only real folders
    owned by this user are touched (a symlink or another user's folder with such a name is left alone)."""
    removed = []
    folder_root = Path(root) if root is not None else Path(tempfile.gettempdir())
    for folder in folder_root.glob("sohoa-*"):
        match = _NAME.fullmatch(folder.name)
        if not match or int(match.group(2)) == os.getpid():
            continue
        try:
            info = folder.lstat()
        except OSError:
            continue
        # lstat: a symlink is not a folder here, so it is never followed
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or _alive(int(match.group(2))):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


def scratch(kind: str) -> tempfile.TemporaryDirectory[str]:
    """`scratch_dir`'s folder as a context manager that removes it when done (the sweep covers a kill -9)."""
    return tempfile.TemporaryDirectory(prefix=_prefix(kind))
