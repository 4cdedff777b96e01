"""A stored package read through protocol.package's reader (the one parser). Stored versions never change (a new
version is a new file), so a read package is cached by (path, size, mtime)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from protocol.package import PackageContents, read_package

_CACHE: OrderedDict[tuple[str, int, int], PackageContents] = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_SIZE = 64


def read_stored(path: Path) -> PackageContents:
    """The stored package's contents, cached by (path, size, mtime)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    contents = read_package(path)
    with _CACHE_LOCK:
        _CACHE[key] = contents
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return contents
