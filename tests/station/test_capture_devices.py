"""Device discovery on the SANE test backend."""

from __future__ import annotations

from station.capture.sane_source import discover as list_devices


def test_list_devices_is_quick_and_describes_each(sane_test_device: str) -> None:
    devices = list_devices(timeout=5)
    ids = [d["id"] for d in devices]
    assert ids == ["test:0", "test:1"]
    assert devices[0]["model"] == "frontend-tester" and devices[0]["kind"] == "sane"
