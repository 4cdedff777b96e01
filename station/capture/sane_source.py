"""A SANE scanner as a capture source. libsane runs only in a child process per run (sane_worker.py);
this side keeps the request, the watchdog and the fault classification, and hands frames to `on_page`.

Why it looks the way it does (see shared/COMPONENT-NOTES.md):
- One child process per scanner and run: backends are not re-entrant and some hang (the test backend was
  seen to deadlock joining its reader thread after a fault). In a child, two scanners scan at the same time,
  a hung backend is killed without taking the station with it, and the next run gets a fresh libsane.
- The watchdog: no message (frame, status or heartbeat) within `watchdog_seconds()` and the child is killed
  with SIGKILL; the run ends with the fault `hung`. A child that dies is the fault `crashed`. Pages handed
  to `on_page` before either stay handed over.
- python-sane accepts any attribute name silently and backends clamp values silently: every option we set
  is checked against the device's option list, and read back; what the device took is what we record.
- Faults are told apart by sane_strstatus() texts (fixed strings of libsane, not of any backend).
- The device is opened for one run and closed after it, so a scanner is never held between runs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol.errors import Message
from station.capture.profiles import Profile, ProfileError, load_profile, profile_for
from station.capture.sane_link import Link, WorkerDied, WorkerHung, worker_command
from station.capture.source import (
    MIN_DPI,
    PAGE_SIZES_MM,
    CapturedImage,
    CaptureRefused,
    ScanFault,
    ScanOutcome,
    ScanRequest,
    Side,
)

log = logging.getLogger(__name__)

NO_DOCS = "Document feeder out of documents"

#: The watchdog: lamp warm-up, calibration and paper pick, plus a slow scanner that sends nothing until it
#: has read the whole page (3 s per megapixel: A4 300 dpi is 8.7 MP). Heartbeats restart it while a page is
#: read. SOHOA_SANE_WATCHDOG_S overrides it for the station; SaneSource(watchdog_s=...) for one source.
WATCHDOG_MARGIN_S = 60.0
WATCHDOG_S_PER_MEGAPIXEL = 3.0
#: Seconds a child gets to cancel, close the device and exit before it is killed.
CLOSE_GRACE_S = 5.0

#: sane_strstatus() texts (libsane) -> our fault codes.
STATUS_FAULTS = {
    "Document feeder jammed": "jammed",
    "Scanner cover is open": "cover_open",
    "Device busy": "device_busy",
    "Error during device I/O": "io_error",
    "Operation was canceled": "cancelled",
    "Access to resource has been denied": "device_busy",
    "Out of memory": "io_error",
    "Invalid argument": "io_error",
    "Operation not supported": "io_error",
}


def watchdog_seconds(request: ScanRequest) -> float:
    """How long a scanner may stay silent before its child is killed: from the page's pixels, plus a margin."""
    if override := os.environ.get("SOHOA_SANE_WATCHDOG_S"):
        return float(override)
    width, height = PAGE_SIZES_MM[request.page_size]
    megapixels = (width / 25.4) * (height / 25.4) * request.dpi**2 / 1e6
    return WATCHDOG_MARGIN_S + WATCHDOG_S_PER_MEGAPIXEL * megapixels


def _list(timeout: float) -> list[dict[str, str]]:
    """The devices a fresh child's sane_init finds (this process never loads libsane)."""
    cmd, env = worker_command("--list")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"SANE discovery failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def discover(timeout: float = 5.0) -> list[dict[str, str]]:
    """SANE devices found within `timeout` seconds (a stuck network backend must not hang the UI)."""
    try:
        return _list(timeout)
    except subprocess.TimeoutExpired:
        log.warning("SANE discovery gave no answer within %.1f s", timeout)
        return []


def _present(device: str, timeout: float = 20.0) -> bool:
    """Is `device` still attached? Asked of a fresh child: a libsane keeps what it loaded at sane_init
    (dll.conf and some backends' device lists are read once), so only a new sane_init sees that a scanner
    went away. Only called after an I/O error, so its cost (~0.5 s) does not matter."""
    try:
        found = [d["id"] for d in _list(timeout)]
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:  # unanswerable: says nothing
        log.warning("could not probe SANE devices after an I/O error: %s", exc)
        return True
    return device in found


def _refusal(reply: dict[str, Any]) -> CaptureRefused:
    """The worker's refusal as the exception it was there (ProfileError keeps its class)."""
    cls = ProfileError if reply["code"] == "profile" else CaptureRefused
    exc = cls.__new__(cls)
    said = Message.from_dict(reply)  # the refusal by key, as the worker process sent it
    CaptureRefused.__init__(exc, reply["code"], said.msgid, **said.params)
    return exc


class SaneSource:
    """One SANE device, opened per run in its own child process. `options` are raw backend options set
    after the profile's; `watchdog_s` overrides `watchdog_seconds()` (tests use a short one)."""

    def __init__(self, device: str, profile: str | Path | Profile | None = None,
                 options: dict[str, Any] | None = None, *, watchdog_s: float | None = None):
        self.id = device
        if profile is None:
            self.profile = profile_for(device)
        elif isinstance(profile, Profile):
            self.profile = profile
        else:
            self.profile = load_profile(profile)
        self.extra = dict(options or {})
        self.watchdog_s = watchdog_s
        self._link: Link | None = None
        self._runner: int | None = None  # the thread running scan(): the only one that may talk to the child
        self._timeout = 0.0
        self._pages = 0  # frames handed to on_page in the run in progress

    @property
    def worker_pid(self) -> int | None:
        """The pid of the child of the run in progress (None between runs)."""
        link = self._link
        return link.pid if link else None

    def _open_message(self, request: ScanRequest | None) -> dict[str, Any]:
        return {"op": "open", "device": self.id, "profile": self.profile, "extra": self.extra, "request": request}

    def describe(self) -> dict[str, Any]:
        """The device's options (python names) and the profile bound to it; opens the device briefly."""
        link = Link(self.id)
        try:
            reply = link.call(self._open_message(None), self.watchdog_s or watchdog_seconds(ScanRequest()))
        except (WorkerHung, WorkerDied) as exc:
            raise ScanFault("hung" if isinstance(exc, WorkerHung) else "crashed", str(exc), device=self.id) from exc
        finally:
            link.close(CLOSE_GRACE_S)
        if reply["kind"] == "status":  # could not open
            raise ScanFault("unplugged", reply["text"], device=self.id)
        self._check(reply, "described")
        return {"device": self.id, "profile": self.profile.family, "mapped": reply["mapped"],
                "options": reply["options"]}

    def set_option(self, name: str, value: Any) -> Any:
        """Set a raw option on the open device, from `on_page` (between frames); refuses names it lacks."""
        link = self._link
        if link is None:
            raise RuntimeError("no run in progress: options are set per run")
        if threading.get_ident() != self._runner:
            raise RuntimeError("options are set from on_page, between frames (the scan thread talks to the child)")
        reply = link.call({"op": "set", "name": name, "value": value, "device": self.id}, self._timeout)
        if reply["kind"] == "refused":
            raise _refusal(reply)
        return reply["value"]

    # -- the run -----------------------------------------------------------------------------------
    def scan(self, request: ScanRequest, *, on_page: Callable[[CapturedImage], None],
             stop: threading.Event) -> ScanOutcome:
        request.check()
        self._timeout = self.watchdog_s or watchdog_seconds(request)
        try:
            link = Link(self.id)
        except OSError as exc:
            log.exception("could not start the SANE worker for %s", self.id)
            return ScanOutcome(0, "fault", ScanFault("crashed", f"cannot start the SANE worker: {exc}",
                                                     device=self.id))
        self._link, self._runner, self._pages = link, threading.get_ident(), 0
        try:
            return self._frames(link, request, on_page, stop)
        except ScanFault as fault:
            return ScanOutcome(self._pages, "fault", fault)
        except WorkerHung as exc:
            log.error("%s: %s", self.id, exc)
            return ScanOutcome(self._pages, "fault", ScanFault("hung", str(exc), device=self.id))
        except WorkerDied as exc:
            log.error("%s: %s", self.id, exc)
            return ScanOutcome(self._pages, "fault", ScanFault("crashed", str(exc), device=self.id))
        finally:
            self._link = self._runner = None
            link.close(CLOSE_GRACE_S)

    def _frames(self, link: Link, request: ScanRequest, on_page: Callable[[CapturedImage], None],
                stop: threading.Event) -> ScanOutcome:
        """Open and set up the device in the child, then one frame per 'next' until the run ends."""
        reply = link.call(self._open_message(request), self._timeout)
        if reply["kind"] == "status":  # could not open: gone, or never there
            return ScanOutcome(0, "fault", ScanFault("unplugged", reply["text"], device=self.id))
        self._check(reply, "ready")
        settings = reply["settings"]
        if settings["clamped"]:
            log.warning("%s did not take every value (wanted, got): %s", self.id, settings["clamped"])
        double_feed = settings.get("double_feed") or {}
        if double_feed.get("skipped"):
            log.info("%s double-feed detection: set %s, skipped %s", self.id, double_feed["set"],
                     double_feed["skipped"])
        duplex = request.source == "adf_duplex" and self.profile.duplex == "interleaved"
        frame = 0
        while True:
            if stop.is_set():
                return ScanOutcome(self._pages, "stopped")
            reply = link.call({"op": "next"}, self._timeout)
            if reply["kind"] == "status":
                text = reply["text"]
                if text == NO_DOCS:
                    # The feeder running dry is the normal end of a batch; dry from the start is a fault.
                    if self._pages:
                        return ScanOutcome(self._pages, "empty")
                    return ScanOutcome(0, "fault", ScanFault("no_paper", text, device=self.id))
                fault = self._fault(text)
                if fault.code == "jammed" and double_feed.get("on"):
                    # backends report a detected double feed as a jam: with detection on, say both
                    fault = ScanFault("double_feed_or_jam", text, device=self.id)
                log.warning("scan fault on %s after %d pages: %s (%s)", self.id, self._pages, fault.code, text)
                return ScanOutcome(self._pages, "fault", fault)
            self._check(reply, "frame")
            if not reply["size"] or not reply["height"]:
                return ScanOutcome(self._pages, "fault",
                                   ScanFault("io_error", "the scanner returned no data", device=self.id))
            image = link.image(reply)
            frame += 1
            side: Side
            if duplex:
                side, sheet = ("front" if frame % 2 else "back"), (frame + 1) // 2
            else:
                side, sheet = "single", frame
            on_page(CapturedImage(image=image, dpi=float(settings["resolution"]), side=side, sheet=sheet,
                                  device=self.id, settings=dict(settings), source=request.source))
            self._pages += 1
            if request.source == "flatbed":
                return ScanOutcome(self._pages, "done")

    def _check(self, reply: dict[str, Any], wanted: str) -> None:
        if reply["kind"] == "refused":
            raise _refusal(reply)
        if reply["kind"] == "error":
            raise ScanFault("io_error", f"SANE worker error: {reply['message']}", device=self.id)
        if reply["kind"] != wanted:
            raise ScanFault("io_error", f"SANE worker answered {reply['kind']!r}, expected {wanted!r}",
                            device=self.id)

    def _fault(self, text: str) -> ScanFault:
        code = STATUS_FAULTS.get(text, "io_error")
        if code == "io_error" and not _present(self.id):
            code = "unplugged"
        return ScanFault(code, text, device=self.id)


__all__ = ["SaneSource", "discover", "watchdog_seconds", "MIN_DPI", "ProfileError"]
