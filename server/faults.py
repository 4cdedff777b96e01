"""Crash points for fault tests: `SOHOA_CRASH_AT=after-store` makes the server kill itself (SIGKILL) there.

Only read from the environment of a server started for a test; unset, every call is a no-op. Killing at a
named point proves that each window of a chunk's write (on the backup media, not yet in the upload file)
and of the commit (before storing, between store and catalogue, before the receipt is recorded, before the
partial file is removed) recovers on restart.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger("sohoa.server.ingest")
ENV = "SOHOA_CRASH_AT"
POINTS = ("after-backup-chunk", "before-store", "after-rename", "after-store", "after-catalog", "after-finish")


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        log.warning("fault injection: killing the server at %s", name)
        os.kill(os.getpid(), signal.SIGKILL)
