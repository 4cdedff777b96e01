"""Keep the station's scanner list current: re-discover on demand, on a timer, and (with pyudev, when
installed) as soon as a USB device is plugged in or removed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from station.capture.sane_source import discover as list_devices

log = logging.getLogger(__name__)

Change = Callable[[list[dict[str, str]], list[dict[str, str]]], None]  # (added, removed)


class DeviceWatcher:
    def __init__(self, on_change: Change, *, interval: float = 30.0, timeout: float = 5.0):
        self.on_change = on_change
        self.interval = interval
        self.timeout = timeout
        self.devices: dict[str, dict[str, str]] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._monitor: Any = None

    def refresh(self) -> list[dict[str, str]]:
        """Discover now; report what came and went; return the current list."""
        with self._lock:
            found = {d["id"]: d for d in list_devices(self.timeout)}
            added = [d for key, d in found.items() if key not in self.devices]
            removed = [d for key, d in self.devices.items() if key not in found]
            self.devices = found
        if added or removed:
            log.info("scanners added %s removed %s", [d["id"] for d in added], [d["id"] for d in removed])
            try:
                self.on_change(added, removed)
            except Exception:  # noqa: BLE001 - a broken listener must not stop discovery
                log.exception("device change listener failed")
        return list(found.values())

    def poke(self) -> None:
        """Ask the watcher thread to re-discover soon (UI button, udev event)."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="scanner-watch", daemon=True)
        self._thread.start()
        self._start_udev()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._monitor is not None:
            self._monitor.stop()
        if self._thread:
            self._thread.join(self.timeout + 5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - try again next time
                log.exception("scanner discovery failed")
            self._wake.wait(self.interval)
            self._wake.clear()

    def _start_udev(self) -> None:
        try:
            import pyudev
        except ImportError:
            log.info("pyudev not installed: scanners are re-discovered every %.0f s and on demand", self.interval)
            return
        context = pyudev.Context()
        monitor = pyudev.Monitor.from_netlink(context)
        monitor.filter_by(subsystem="usb", device_type="usb_device")
        self._monitor = pyudev.MonitorObserver(monitor, callback=lambda device: self.poke(), name="scanner-udev")
        self._monitor.start()
