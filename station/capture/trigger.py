"""'Scan now' inputs: a GPIO button on a Pi here; a keyboard key or a USB foot pedal (which types one) reach
the same trigger through the UI (station/web/trigger.py).

All of them end in one debounced `Trigger.press()`, so the logic is tested without a Pi; the GPIO
adapter only wires gpiozero's Button to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Trigger:
    """Calls `action` on a press, ignoring presses within `debounce` seconds of the last one fired."""

    def __init__(self, action: Callable[[], Any], *, debounce: float = 0.5,
                 clock: Callable[[], float] = time.monotonic):
        self.action = action
        self.debounce = debounce
        self._clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()
        self.fired = 0

    def press(self) -> bool:
        with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last < self.debounce:
                return False
            self._last = now
            self.fired += 1
        try:
            self.action()
        except Exception as exc:  # noqa: BLE001 - a refused start (busy, closed batch) must not kill the input
            log.warning("trigger action refused: %s", exc)
        return True


def gpio_button(pin: int, trigger: Trigger, *, bounce_time: float = 0.05) -> Any:
    """Wire a GPIO button / foot switch (gpiozero, only on a Pi) to `trigger`; keep the returned object."""
    try:
        from gpiozero import Button
    except ImportError as exc:
        raise RuntimeError("gpiozero is not installed: GPIO triggers need it (apt install python3-gpiozero)") from exc
    button = Button(pin, bounce_time=bounce_time)
    button.when_pressed = lambda *_: trigger.press()
    return button
