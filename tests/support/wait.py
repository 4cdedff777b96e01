"""Waiting in tests: poll a condition until it holds or a deadline passes, never a bare sleep and hope."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, *, interval: float = 0.05) -> T:
    """Call `predicate` until it returns something true, and return that; AssertionError naming `what` when
    `timeout` seconds pass first. An AssertionError from `predicate` fails at once (a process that died);
    any other exception counts as not yet (a server still starting), the last one shown if time runs out."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - not ready yet; shown if it never gets ready
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(interval)
