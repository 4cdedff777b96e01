"""Caps on live streams (server-sent events), for both web apps.

A stream holds one of the web server's worker threads for as long as it is open; without a cap, 8 open
dashboards took all 8 threads and the sync API and every page stopped answering. A stream is admitted only
while fewer than `total` are open and fewer than `per_key` belong to the same viewer (user or operator);
otherwise the request is answered at once (429, Retry-After) and the thread goes back to the pool. Streams
also end after `max_age_s` (the browser reconnects), so a thread is never pinned for long.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

RETRY_AFTER_S = 15


class StreamLimiter:
    def __init__(self, *, total: int, per_key: int):
        self.total, self.per_key = total, per_key
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, key: str) -> bool:
        with self._lock:
            if sum(self._open.values()) >= self.total or self._open[key] >= self.per_key:
                return False
            self._open[key] += 1
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]

    def guarded(self, key: str, body: Iterator[Any]) -> Iterator[Any]:
        """`body`, giving the slot back when the server closes the response (end, error, viewer gone; WSGI
        servers call close() even on a response never iterated)."""
        return _Guarded(self, key, body)


class _Guarded:
    def __init__(self, limiter: StreamLimiter, key: str, body: Iterator[Any]):
        self.limiter, self.key, self.body = limiter, key, body
        self._released = False
        self._lock = threading.Lock()

    def __iter__(self) -> _Guarded:
        return self

    def __next__(self) -> Any:
        return next(self.body)

    def close(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        try:
            close = getattr(self.body, "close", None)
            if close:
                close()
        finally:
            self.limiter.release(self.key)
