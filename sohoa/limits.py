"""Failed-login limits shared by the server's web login and the station's PIN login (and the server's PIN
check for stations).

Failures are counted per (account, client address) and per client address, never per account alone: a
stranger guessing at one address cannot lock the real owner out from another. Past `free` failures each
further one doubles the wait (`base_s`, 2×, 4×, … up to `max_s`), so guessing slows down without end
instead of resuming every minute. A success clears that account's count at that address. In memory: a
restart forgives, acceptable against online guessing at scrypt speed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class AttemptLimiter:
    def __init__(self, *, free: int = 5, base_s: float = 30.0, max_s: float = 3600.0, per_address: int = 20,
                 forget_s: float = 24 * 3600, clock: Callable[[], float] = time.monotonic):
        self.free, self.base_s, self.max_s = free, base_s, max_s
        self.per_address, self.forget_s, self.clock = per_address, forget_s, clock
        self._fails: dict[str, tuple[int, float]] = {}  # key -> (failures, time of the last one)
        self._lock = threading.Lock()

    def _wait(self, key: str, free: int, now: float) -> float:
        count, last = self._fails.get(key, (0, 0.0))
        if count and now - last > self.forget_s:
            self._fails.pop(key, None)
            return 0.0
        if count < free:
            return 0.0
        delay = min(self.base_s * 2 ** (count - free), self.max_s)
        return max(0.0, last + delay - now)

    def retry_after(self, account: str, address: str) -> float:
        """Seconds until this address may try this account again (0: now)."""
        now = self.clock()
        with self._lock:
            return max(self._wait(f"u:{account}|{address}", self.free, now),
                       self._wait(f"a:{address}", self.per_address, now))

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (f"u:{account}|{address}", f"a:{address}"):
                count, _ = self._fails.get(key, (0, 0.0))
                self._fails[key] = (count + 1, now)

    def succeeded(self, account: str, address: str) -> None:
        with self._lock:
            self._fails.pop(f"u:{account}|{address}", None)
