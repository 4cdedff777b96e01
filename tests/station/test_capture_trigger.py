"""The scan trigger: one debounced press, whatever pressed it (GPIO button, the UI's key or pedal)."""

from __future__ import annotations

from station.capture.trigger import Trigger


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
