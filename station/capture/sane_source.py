"""A SANE scanner as a capture source (python-sane).

Why it looks the way it does (see shared/COMPONENT-NOTES.md):
- start() + snap per frame (never snap() alone); 8-bit depth; frames come back as numpy RGB.
- python-sane accepts any attribute name silently and backends clamp values silently: every option we set
  is checked against the device's option list, and read back; what the device took is what we record.
- python-sane reports a SANE status only as its sane_strstatus() text, so faults are told apart by those
  fixed strings (they are part of libsane, not of any backend).
- The device is opened for one run and closed after it, so a scanner is never held between runs.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from station.capture.profiles import BoundProfile, Profile, ProfileError, load_profile, profile_for, py_name
from station.capture.source import (
    MIN_DPI,
    PAGE_SIZES_MM,
    CapturedImage,
    CaptureRefused,
    ScanFault,
    ScanOutcome,
    ScanRequest,
    check_dpi,
)

log = logging.getLogger(__name__)

#: Every call into libsane is serialised process-wide. The SANE standard does not require backends to be
#: re-entrant, and two test-backend devices scanning at once from two threads were seen to hang one of them.
#: Two scanners on one station still work, frame by frame in turn; true parallel scanning would need a
#: process per scanner.
_LOCK = threading.RLock()
_INITIALISED = False

NO_DOCS = "Document feeder out of documents"
_LIBC: Any = None


def _ignore_sigpipe() -> None:
    """Put SIGPIPE back to "ignore". libsane's reader thread (sanei_thread) resets it to the default, fatal,
    action when it ends; the next write to a socket a browser has closed then killed the whole station.
    Through libc, because Python's signal.signal() works only in the main thread."""
    global _LIBC
    import ctypes
    import signal

    if _LIBC is None:  # opened once: no dlopen() per frame
        _LIBC = ctypes.CDLL(None)
        _LIBC.signal.restype = ctypes.c_void_p
        _LIBC.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
    _LIBC.signal(signal.SIGPIPE, 1)  # SIG_IGN


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


def ensure_init() -> None:
    """sane.init() once per process (after saneenv.prepare_sane_config, if used)."""
    global _INITIALISED
    import sane

    with _LOCK:
        if not _INITIALISED:
            version = sane.init()
            log.info("SANE initialised: %s", version)
            _INITIALISED = True


def _get_devices() -> list[tuple[str, str, str, str]]:
    import sane

    ensure_init()
    with _LOCK:
        return list(sane.get_devices())


def discover(timeout: float = 5.0) -> list[dict[str, str]]:
    """SANE devices found within `timeout` seconds (a stuck network backend must not hang the UI)."""
    found: list[Any] = []
    errors: list[BaseException] = []

    def probe() -> None:
        try:
            found.extend(_get_devices())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=probe, name="sane-discover", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        log.warning("SANE discovery gave no answer within %.1f s", timeout)
        return []
    if errors:
        raise errors[0]
    return [{"id": name, "vendor": vendor, "model": model, "type": kind, "kind": "sane"}
            for name, vendor, model, kind in found]


def _present(device: str, timeout: float = 20.0) -> bool:
    """Is `device` still attached? Asked of a fresh process: this process's libsane keeps what it loaded
    at sane_init (dll.conf and some backends' device lists are read once), so only a new sane_init sees
    that a scanner went away. Only called after an I/O error, so its cost (~0.5 s) does not matter."""
    code = "import sane; sane.init(); print('\\n'.join(d[0] for d in sane.get_devices()))"
    try:
        found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                               check=True).stdout.split()
    except (OSError, subprocess.SubprocessError) as exc:  # an unanswerable probe says nothing
        log.warning("could not probe SANE devices after an I/O error: %s", exc)
        return True
    return device in found


class SaneSource:
    """One SANE device, opened per run. `options` are raw backend options set after the profile's."""

    def __init__(self, device: str, profile: str | Path | Profile | None = None,
                 options: dict[str, Any] | None = None):
        self.id = device
        if profile is None:
            self.profile = profile_for(device)
        elif isinstance(profile, Profile):
            self.profile = profile
        else:
            self.profile = load_profile(profile)
        self.extra = dict(options or {})
        self._dev: Any = None

    # -- device handling ---------------------------------------------------------------------------
    def _open(self) -> Any:
        import sane

        ensure_init()
        try:
            with _LOCK:
                return sane.open(self.id)
        except Exception as exc:  # _sane.error or RuntimeError('No such scan device')
            raise ScanFault("unplugged", f"cannot open {self.id}: {exc}", device=self.id) from exc

    def describe(self) -> dict[str, Any]:
        """The device's options (python names) and the profile bound to it; opens the device briefly."""
        dev = self._open()
        try:
            bound = self.profile.bind(dev.opt, device=self.id)
            return {"device": self.id, "profile": self.profile.family, "mapped": bound.names,
                    "options": {name: getattr(opt, "constraint", None) for name, opt in dev.opt.items()}}
        finally:
            with _LOCK:
                dev.close()

    def set_option(self, name: str, value: Any) -> Any:
        """Set a raw option on the open device (during a run); refuses names the device lacks."""
        if self._dev is None:
            raise RuntimeError("no run in progress: options are set per run")
        with _LOCK:
            return _set(self._dev, py_name(name), value, device=self.id)

    # -- the run -----------------------------------------------------------------------------------
    def scan(self, request: ScanRequest, *, on_page: Callable[[CapturedImage], None],
             stop: threading.Event) -> ScanOutcome:
        request.check()
        try:
            dev = self._open()
        except ScanFault as fault:
            return ScanOutcome(0, "fault", fault)
        self._dev = dev
        pages = 0
        try:
            bound = self.profile.bind(dev.opt, device=self.id)
            with _LOCK:
                settings = self._apply(dev, bound, request)
            duplex = request.source == "adf_duplex" and self.profile.duplex == "interleaved"
            frame = 0
            while True:
                if stop.is_set():
                    return ScanOutcome(pages, "stopped")
                try:
                    with _LOCK:  # see _LOCK: libsane is not re-entrant; frames of two scanners interleave
                        dev.start()
                        # no_cancel between ADF frames, as scanimage --batch does; numpy out.
                        try:
                            image = dev.dev.snap(True, True, None)
                        finally:
                            _ignore_sigpipe()
                except Exception as exc:  # noqa: BLE001 - classified below
                    text = str(exc)
                    if text == NO_DOCS:
                        # The feeder running dry is the normal end of a batch; dry from the start is a fault.
                        if pages:
                            return ScanOutcome(pages, "empty")
                        return ScanOutcome(pages, "fault", ScanFault("no_paper", text, device=self.id))
                    fault = self._fault(text)
                    log.warning("scan fault on %s after %d pages: %s (%s)", self.id, pages, fault.code, text)
                    return ScanOutcome(pages, "fault", fault)
                try:
                    rgb = _to_rgb(image)
                except ScanFault as fault:
                    fault.device = self.id
                    return ScanOutcome(pages, "fault", fault)
                frame += 1
                if duplex:
                    side, sheet = ("front" if frame % 2 else "back"), (frame + 1) // 2
                else:
                    side, sheet = "single", frame
                on_page(CapturedImage(image=rgb, dpi=float(settings["resolution"]), side=side, sheet=sheet,
                                      device=self.id, settings=dict(settings), source=request.source))
                pages += 1
                if request.source == "flatbed":
                    return ScanOutcome(pages, "done")
        finally:
            self._dev = None
            with _LOCK:
                try:
                    dev.cancel()
                finally:
                    dev.close()
                    _ignore_sigpipe()

    def _fault(self, text: str) -> ScanFault:
        code = STATUS_FAULTS.get(text, "io_error")
        if code == "io_error" and not _present(self.id):
            code = "unplugged"
        return ScanFault(code, text, device=self.id)

    def _apply(self, dev: Any, bound: BoundProfile, request: ScanRequest) -> dict[str, Any]:
        """Set the request through the profile, then read back what the device took."""
        names = bound.names
        wanted: dict[str, Any] = {}
        if "source" in names:
            wanted[names["source"]] = bound.choose("source", self.profile.sources, request.source)
        elif request.source != "flatbed":
            raise CaptureRefused("unsupported", f"{self.id} has no document feeder",
                                 "Máy quét này không có khay nạp giấy tự động (ADF). Hãy chọn quét mặt kính.")
        colour = bound.choose("mode", self.profile.modes, request.mode)
        wanted[names["mode"]] = colour
        if "depth" in names:
            wanted[names["depth"]] = 8
        wanted[names["resolution"]] = request.dpi
        width, height = PAGE_SIZES_MM[request.page_size]
        for logical, value in (("page_width", width), ("page_height", height), ("tl_x", 0.0), ("tl_y", 0.0),
                               ("br_x", width), ("br_y", height)):
            if logical in names:
                wanted[names[logical]] = value
        for name, value in list(self.profile.fixed.items()) + list(self.extra.items()):
            wanted[py_name(name)] = value

        taken: dict[str, Any] = {}
        clamped: dict[str, list[Any]] = {}
        for name, value in wanted.items():
            got = _set(dev, name, value, device=self.id)
            taken[name] = got
            if _differs(value, got):
                clamped[name] = [value, got]
        # Setting one option can move another (source -> geometry limits): read all back at the end.
        for name in wanted:
            taken[name] = getattr(dev, name)
            if _differs(wanted[name], taken[name]):
                clamped[name] = [wanted[name], taken[name]]
        if clamped:
            log.warning("%s did not take every value (wanted, got): %s", self.id, clamped)
        resolution = float(taken[names["resolution"]])
        check_dpi(resolution, what=f"resolution taken by {self.id}")
        if taken[names["mode"]] != colour:
            raise CaptureRefused("not_colour",
                                 f"{self.id} did not take colour mode (got {taken[names['mode']]!r})",
                                 "Máy quét không chuyển được sang chế độ màu. Quy định bắt buộc quét màu.")
        return {"profile": self.profile.family, "source": request.source, "mode": request.mode,
                "page_size": request.page_size, "resolution": resolution, "requested_dpi": request.dpi,
                "options": taken, "clamped": clamped}


def _set(dev: Any, name: str, value: Any, *, device: str) -> Any:
    if name not in dev.opt:
        raise CaptureRefused(
            "unknown_option", f"{device} has no option {name!r} (options: {', '.join(sorted(dev.opt))})",
            f"Máy quét không có tuỳ chọn {name!r}. Kiểm tra lại cấu hình (profile) của máy quét.")
    try:
        setattr(dev, name, value)
    except (AttributeError, TypeError, ValueError) as exc:
        raise CaptureRefused("unknown_option", f"{device} refused {name}={value!r}: {exc}",
                             f"Máy quét không nhận giá trị {value!r} cho tuỳ chọn {name!r}.") from exc
    except Exception as exc:  # _sane.error: the backend said no
        raise CaptureRefused("unknown_option", f"{device} refused {name}={value!r}: {exc}",
                             f"Máy quét không nhận giá trị {value!r} cho tuỳ chọn {name!r}.") from exc
    return getattr(dev, name)


def _differs(wanted: Any, got: Any) -> bool:
    if isinstance(wanted, int | float) and isinstance(got, int | float) and not isinstance(wanted, bool):
        return abs(float(wanted) - float(got)) > 0.01
    return wanted != got


def _to_rgb(array: tuple | np.ndarray) -> np.ndarray:
    """_sane's numpy snap returns (bytes, width, height, samples, sample_size); we want H x W x 3 uint8."""
    data, width, height, samples, sample_size = array
    if not data:
        raise ScanFault("io_error", "the scanner returned no data")
    if samples != 3 or sample_size != 1:
        raise CaptureRefused("not_colour",
                             f"frame has {samples} samples of {sample_size} bytes, need 3 x 8-bit",
                             "Ảnh quét không phải ảnh màu 24 bit. Quy định bắt buộc quét màu.")
    return np.frombuffer(data, np.uint8).reshape(height, width, 3)


__all__ = ["SaneSource", "discover", "ensure_init", "MIN_DPI", "ProfileError"]
