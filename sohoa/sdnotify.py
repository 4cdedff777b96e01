"""systemd's service notifications (sd_notify): READY, STATUS, WATCHDOG pings that follow a health check, STOPPING.

Without NOTIFY_SOCKET (not run by systemd, or Type=simple) every call is a no-op. The watchdog pings only
while `check()` passes: a ping from a thread that checks nothing would keep a hung service alive.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

log = logging.getLogger("sohoa.sdnotify")


def notify(*lines: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `lines` (e.g. "READY=1", "STATUS=...") as one datagram; False when there is no NOTIFY_SOCKET."""
    env = env if env is not None else os.environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    payload = "\n".join(line.replace("\n", " ") for line in lines).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto(payload, address)
        except OSError as exc:  # systemd gone or the socket path wrong: the service itself keeps working
            log.warning("sd_notify to %s failed: %s", env.get("NOTIFY_SOCKET"), exc)
            return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Half of WatchdogSec (as systemd recommends), or None when the watchdog is off or meant for another PID."""
    env = env if env is not None else os.environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


def http_ok(url: str, *, timeout: float = 2.0) -> bool:
    """True when `url` answers with a status below 500 (the web server's threads are serving)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


class ServiceNotifier:
    """Waits until `check()` first passes, then sends READY=1; then pings the watchdog while `check()` passes.

    `check` returns None when healthy, or a short English reason (sent as STATUS= and logged) when not.
    """

    def __init__(
        self,
        check: Callable[[], str | None],
        *,
        ready_status: str,
        name: str = "service",
        poll_s: float = 0.1,
        env: Mapping[str, str] | None = None,
    ):
        self.check = check
        self.ready_status = ready_status
        self.name = name
        self.poll_s = poll_s
        self.env = dict(os.environ if env is None else env)
        self.interval = watchdog_interval(self.env)
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.env.get("NOTIFY_SOCKET"))

    def start(self) -> None:
        if not self.enabled:
            return
        self._thread = threading.Thread(target=self._run, name=f"sdnotify-{self.name}", daemon=True)
        self._thread.start()

    def stopping(self, status: str = "stopping") -> None:
        self._stop.set()
        notify("STOPPING=1", f"STATUS={status}", env=self.env)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._safe_check() is None:
                notify("READY=1", f"STATUS={self.ready_status}", f"MAINPID={os.getpid()}", env=self.env)
                self.ready.set()
                log.info("%s ready (sd_notify)", self.name)
                break
            self._stop.wait(self.poll_s)
        if self.interval is None:
            return
        healthy = True
        while not self._stop.wait(self.interval):
            started = time.monotonic()
            problem = self._safe_check()
            if self._stop.is_set():
                return
            if problem is None:
                notify("WATCHDOG=1", *([f"STATUS={self.ready_status}"] if not healthy else []), env=self.env)
                healthy = True
            else:
                # No ping: systemd restarts the service when WatchdogSec passes without one.
                log.error(
                    "%s unhealthy, watchdog not pinged: %s (check took %.1f s)",
                    self.name,
                    problem,
                    time.monotonic() - started,
                )
                notify(f"STATUS=unhealthy: {problem}", env=self.env)
                healthy = False

    def _safe_check(self) -> str | None:
        try:
            return self.check()
        except Exception as exc:  # a crashing check is an unhealthy service, never a dead notifier
            return f"health check raised {exc!r}"


def http_check(
    url: str, *, timeout: float = 2.0, threads: Callable[[], dict[str, bool]] | None = None
) -> Callable[[], str | None]:
    """A check for ServiceNotifier: `url` answers, and every named loop in `threads()` is alive."""

    def check() -> str | None:
        if not http_ok(url, timeout=timeout):
            return f"{url} does not answer"
        for name, alive in (threads() if threads else {}).items():
            if not alive:
                return f"{name} thread is not running"
        return None

    return check
