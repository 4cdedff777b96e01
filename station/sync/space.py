"""Recognising "the station's disk is full" from the error itself (errno / SQLite's result code), never from text."""

from __future__ import annotations

import errno
import sqlite3

from protocol.i18n import N_

SQLITE_FULL = 13  # "database or disk is full"

DISK_FULL = N_("The station's disk is full. The hồ sơ is kept as it was: free some space (sync the finished "
               "hồ sơ, ask the administrator to clean up), then do it again.")


def disk_full(exc: BaseException | None) -> bool:
    """True when `exc` (or an exception it was raised from) is ENOSPC/EDQUOT or SQLite's SQLITE_FULL."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
