"""Device discovery and the watcher, on the SANE test backend."""

from __future__ import annotations

import threading

from station.capture.devices import DeviceWatcher
from station.capture.sane_source import discover as list_devices


def test_list_devices_is_quick_and_describes_each(sane_test_device: str) -> None:
    devices = list_devices(timeout=5)
    ids = [d["id"] for d in devices]
    assert ids == ["test:0", "test:1"]
    assert devices[0]["model"] == "frontend-tester" and devices[0]["kind"] == "sane"


def test_watcher_reports_additions_once(sane_test_device: str) -> None:
    changes: list[tuple[list, list]] = []
    seen = threading.Event()

    def on_change(added: list, removed: list) -> None:
        changes.append(([d["id"] for d in added], [d["id"] for d in removed]))
        seen.set()

    watcher = DeviceWatcher(on_change, interval=0.05, timeout=5)
    watcher.start()
    assert seen.wait(10)
    watcher.poke()
    watcher.refresh()
    watcher.stop()
    assert changes == [(["test:0", "test:1"], [])]  # later rounds found the same devices: no change
    # a device that went away is reported as removed
    watcher.devices["test:7"] = {"id": "test:7"}
    watcher.refresh()
    assert changes[-1] == ([], ["test:7"])
