"""The scan trigger: a key (or a pedal that types one) starts a real capture, debounced."""

from __future__ import annotations

import os
import threading

from station.capture.journal import Journal
from station.capture.service import CaptureService
from station.capture.source import ScanRequest, open_source
from station.capture.trigger import Trigger, watch_fd
from station.store import Store


def test_debounce_with_a_clock() -> None:
    now = [0.0]
    calls: list[float] = []
    trigger = Trigger(lambda: calls.append(now[0]), debounce=0.5, clock=lambda: now[0])
    for t in (0.0, 0.1, 0.4, 0.6, 0.61, 2.0):
        now[0] = t
        trigger.press()
    assert calls == [0.0, 0.6, 2.0]


def test_refused_action_does_not_kill_the_trigger() -> None:
    def refuse() -> None:
        raise RuntimeError("busy")

    trigger = Trigger(refuse, debounce=0)
    assert trigger.press() and trigger.press() and trigger.fired == 2


def test_key_on_a_stream_starts_a_flatbed_scan(sane_test_device: str, station_store: Store, journal: Journal,
                                               batch_id: int) -> None:
    service = CaptureService(station_store, journal)
    source = open_source("sane", device=sane_test_device)

    def scan_now() -> None:
        service.wait(source.id, timeout=30)  # a pedal press while scanning waits its turn
        service.start(batch_id, source, ScanRequest(source="flatbed"), actor="pedal")

    trigger = Trigger(scan_now, debounce=0)
    read_end, write_end = os.pipe()
    stop = threading.Event()
    watcher = threading.Thread(target=watch_fd, args=(read_end, trigger), kwargs={"stop": stop})
    watcher.start()
    os.write(write_end, b" x\n")  # two trigger keys and one other key
    os.close(write_end)
    watcher.join(30)
    stop.set()
    os.close(read_end)
    service.wait(timeout=30)
    assert trigger.fired == 2
    rows = station_store.pages(batch_id)
    assert len(rows) == 2 and {r["source"] for r in rows} == {"flatbed"}
    service.close()
