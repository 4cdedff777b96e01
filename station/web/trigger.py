"""The hardware button / foot pedal: each press repeats the last scan the operator started from the UI
(same hồ sơ, same preset), as long as that hồ sơ is still being scanned or reviewed.

capture/trigger.py turns a GPIO button, a pedal's key or a tty byte into one debounced `Trigger.press()`;
this module gives it the action. The station process wires an input to `app.extensions["trigger"]`, e.g.
`gpio_button(17, app.extensions["trigger"])`; a kiosk pedal that types a key is handled in station.js.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from station.capture.trigger import Trigger

log = logging.getLogger("sohoa.station.web")


class LastScan:
    """What the operator last started: enough to start it again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scan: dict[str, Any] | None = None

    def remember(self, **scan: Any) -> None:
        with self._lock:
            self._scan = dict(scan)

    def get(self) -> dict[str, Any] | None:
        with self._lock:
            return dict(self._scan) if self._scan else None


def make_trigger(station: Any, last: LastScan, *, debounce: float = 0.8) -> Trigger:
    def action() -> None:
        scan = last.get()
        if scan is None:
            raise RuntimeError("no scan started from the UI yet: nothing to repeat")
        if station.store.batch(scan["batch_id"])["state"] not in ("OPEN", "REVIEW"):
            raise RuntimeError(f"batch {scan['batch_id']} is no longer being scanned")
        if str(station.capture.state) in ("SCANNING", "STOPPING"):
            raise RuntimeError("the scanner is busy")
        if scan["kind"] == "sane":
            station.capture.clear_fault(scan["options"]["device"])
        station.scan(scan["batch_id"], kind=scan["kind"], options=scan["options"], request=scan["request"],
                     actor=scan["actor"])
        station.store.audit(scan["actor"], "capture.trigger", scan["batch_id"])
        log.info("trigger: scanning again into batch %s", scan["batch_id"])

    return Trigger(action, debounce=debounce)
