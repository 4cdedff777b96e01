"""A GPIO scan button (gpiozero's mock pins stand in for a Raspberry Pi header) presses the station's trigger."""

from __future__ import annotations

import time

from station.capture.trigger import Trigger
from tests.support.wait import wait_until


def test_gpio_button_press_fires_the_trigger(monkeypatch):
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from station.cli import _gpio_trigger
    from station.config import StationConfig

    monkeypatch.setattr(Device, "pin_factory", MockFactory())
    fired: list[float] = []
    trigger = Trigger(lambda: fired.append(time.monotonic()), debounce=0.2)

    class App:
        extensions = {"trigger": trigger}

    button = _gpio_trigger(StationConfig(data_dir=".", trigger_gpio_pin=17), App())
    assert button is not None
    pin = Device.pin_factory.pin(17)
    pin.drive_low()  # pressed (pull-up: active low)
    pin.drive_high()
    wait_until(lambda: fired, 2, "the press to fire", interval=0.01)
    assert len(fired) == 1
    pin.drive_low()  # a bounce inside the debounce window is ignored
    pin.drive_high()
    time.sleep(0.1)  # as long as the press above took to fire, with room: the ignored bounce had that time
    assert len(fired) == 1
    button.close()


def test_no_pin_configured_means_no_button():
    from station.cli import _gpio_trigger
    from station.config import StationConfig

    assert _gpio_trigger(StationConfig(data_dir="."), object()) is None
