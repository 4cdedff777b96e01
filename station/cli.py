"""`sohoa station`: run the station service (capture, processing, sync, telemetry, operator UI)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sohoa.logs import set_context
from sohoa.sdnotify import ServiceNotifier, http_check
from station.config import StationConfig, load_config

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("sohoa.station")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("station", help="run the scanning station service and its operator UI")
    p.add_argument("--config", help="station.toml")
    p.add_argument("--data", default="/var/lib/sohoa/station", help="data folder when no --config")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> StationConfig:
    config = load_config(Path(args.config)) if args.config else StationConfig(data_dir=Path(args.data))
    if args.host:
        config.host = args.host
    if args.port:
        config.port = args.port
    return config


def run(args: argparse.Namespace) -> int:
    serve(_config(args))
    return 0


def _gpio_trigger(config: StationConfig, app: Flask) -> object:
    """The hardware scan button (gpiozero on a Pi); a missing GPIO stack is logged, never fatal."""
    if not config.trigger_gpio_pin:
        return None
    from station.capture.trigger import gpio_button

    try:
        return gpio_button(config.trigger_gpio_pin, app.extensions["trigger"])
    except Exception:
        log.exception("GPIO trigger on pin %d unavailable", config.trigger_gpio_pin)
        return None


def _notifier(config: StationConfig, station: object) -> ServiceNotifier:
    """systemd (Type=notify): READY once the UI answers; watchdog pings while it answers and sync runs."""
    local = "127.0.0.1" if config.host in ("0.0.0.0", "", "::") else config.host

    def loops() -> dict[str, bool]:
        sync = getattr(station, "sync", None)
        return {"sync": sync.alive} if sync is not None else {}

    return ServiceNotifier(
        http_check(f"http://{local}:{config.port}/login", threads=loops),
        name="station",
        ready_status=f"operator UI on {config.host}:{config.port}",
    )


def serve(config: StationConfig, *, stop: threading.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop`), then stop every part in reverse order."""
    from waitress.server import create_server

    from protocol.scratch import sweep_scratch
    from station.service import Station
    from station.web.app import create_app

    # libsane's reader thread resets SIGPIPE to its fatal default; blocked in every thread started from here
    # on, a browser closing its socket can never kill the station (writes just fail with EPIPE).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
    set_context(station_id=config.station_id)  # journalctl STATION_ID=... finds this station's lines
    station = Station(config)
    swept = sweep_scratch()  # what a killed station left in /tmp (a page's OCR files)
    if swept:
        log.info("removed %d scratch folder(s) of processes no longer running", len(swept))
    station.start()
    app = create_app(station)
    button = _gpio_trigger(config, app)  # noqa: F841 - kept alive for the process's lifetime
    # poll(), not select(): select() fails outright on a descriptor above 1023.
    server = create_server(app, host=config.host, port=config.port, threads=8, ident="sohoa", asyncore_use_poll=True)
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()
        raise SystemExit(0)  # unwinds server.run() in the main thread; `finally` stops the parts

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    log.info("station UI on http://%s:%d", config.host, config.port)
    notifier = _notifier(config, station)
    notifier.start()
    try:
        server.run()
    finally:
        notifier.stopping()
        server.close()
        station.stop()
