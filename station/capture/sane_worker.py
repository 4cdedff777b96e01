"""The child process that owns one scanner: the only code on the station that calls libsane.

Started by `sane_link.Link` as `python -m station.capture.sane_worker --control FD --frames FD --parent PID`
(exec'd, never forked from the threaded station). It opens the device, applies the request through the
profile, reads back what the device took, and streams frames into the shared frame buffer (a memfd the
station maps too), answering one command at a time. The station keeps the journal; nothing here writes files.

Why it looks the way it does:
- python-sane sets and reads options (type conversion, constraints). Frames are read with libsane's own
  sane_start/sane_read through ctypes on the same handle, straight into the shared buffer: no 26 MB copy,
  a heartbeat while a page is read, and a SANE status reaches the station *before* sane_cancel runs. The
  test backend has been seen to deadlock in sane_cancel after an injected fault; the station then already
  knows the fault and only has to kill this process.
- The parent's death kills this process (PR_SET_PDEATHSIG): a station killed with -9 leaves no child
  holding the device. SIGINT is ignored: Ctrl-C in a terminal goes to the station, which decides.
- `--list` prints the devices of a fresh sane_init as JSON (discovery, also after a device went away).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import os
import signal
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

from protocol.i18n import N_
from station.capture.profiles import BoundProfile, Profile, py_name
from station.capture.source import PAGE_SIZES_MM, CaptureRefused, ScanRequest, check_dpi

#: libsane status codes (sane/sane.h).
GOOD, EOF = 0, 5
FRAME_RGB = 1
#: Bytes asked of each sane_read; backends return less when they like.
CHUNK = 1 << 20
#: Seconds between heartbeats while a page is being read.
HEARTBEAT_S = 0.5
PR_SET_PDEATHSIG = 1


class Parameters(ctypes.Structure):
    _fields_ = [
        ("format", ctypes.c_int),
        ("last_frame", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int),
        ("pixels_per_line", ctypes.c_int),
        ("lines", ctypes.c_int),
        ("depth", ctypes.c_int),
    ]


def _libsane() -> Any:
    lib = ctypes.CDLL("libsane.so.1")  # already loaded by _sane: the same library, the same handles
    lib.sane_start.argtypes = [ctypes.c_void_p]
    lib.sane_get_parameters.argtypes = [ctypes.c_void_p, ctypes.POINTER(Parameters)]
    lib.sane_read.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.sane_cancel.argtypes = [ctypes.c_void_p]
    lib.sane_cancel.restype = None
    lib.sane_strstatus.argtypes = [ctypes.c_int]
    lib.sane_strstatus.restype = ctypes.c_char_p
    return lib


def _handle(dev: Any) -> int:
    """The SANE_Handle inside python-sane's device object (_sane.c: PyObject_HEAD, then SANE_Handle h)."""
    offset = type(dev.dev).__basicsize__ - ctypes.sizeof(ctypes.c_void_p)
    handle = ctypes.c_void_p.from_address(id(dev.dev) + offset).value
    if not handle:
        raise RuntimeError("python-sane device has no handle")
    return handle


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl: nobody would kill us later
        os._exit(3)


class FrameBuffer:
    """The shared memfd, grown here when a frame needs more room; the station re-maps to the size we say."""

    def __init__(self, fd: int):
        self.fd = fd
        self.size = 0
        self.map: mmap.mmap | None = None
        self.address = 0
        self._view: Any = None

    def ensure(self, size: int) -> None:
        if size <= self.size:
            return
        self._view = None  # the ctypes view pins the old mapping
        if self.map is not None:
            self.map.close()
        os.ftruncate(self.fd, size)
        self.map = mmap.mmap(self.fd, size)
        self._view = ctypes.c_char.from_buffer(self.map)
        self.address = ctypes.addressof(self._view)
        self.size = size


class Worker:
    def __init__(self, conn: Connection, frames: FrameBuffer):
        self.conn = conn
        self.frames = frames
        self.lib: Any = None
        self.dev: Any = None
        self.handle = 0
        self.scanning = False

    def send(self, kind: str, **payload: Any) -> None:
        self.conn.send({"kind": kind, **payload})

    def serve(self) -> None:
        while True:
            msg = self.conn.recv()
            op = msg["op"]
            try:
                if op == "close":
                    self.release()
                    self.send("closed")
                    return
                if op == "open":
                    self.open(msg)
                elif op == "set":
                    self.send("value", value=_set(self.dev, py_name(msg["name"]), msg["value"], device=msg["device"]))
                elif op == "next":
                    self.frame()
                else:
                    self.send("error", message=f"unknown command {op!r}")
            except CaptureRefused as exc:
                self.send("refused", code=exc.code, msgid=exc.msgid, params=exc.said.as_dict()["params"])
            except Exception as exc:  # a bug or an odd backend: tell the station, then end this process
                self.send("error", message=f"{type(exc).__name__}: {exc}")
                raise

    # -- device ------------------------------------------------------------------------------------
    def open(self, msg: dict[str, Any]) -> None:
        import sane

        sane.init()
        self.lib = _libsane()
        device: str = msg["device"]
        try:
            self.dev = sane.open(device)
        except Exception as exc:  # noqa: BLE001 - _sane.error or RuntimeError('No such scan device')
            self.send("status", text=f"cannot open {device}: {exc}", where="open")
            return
        self.handle = _handle(self.dev)
        profile: Profile = msg["profile"]
        bound = profile.bind(self.dev.opt, device=device)
        if msg["request"] is None:  # describe only
            self.send(
                "described",
                mapped=bound.names,
                options={name: getattr(opt, "constraint", None) for name, opt in self.dev.opt.items()},
            )
            return
        settings = _apply(self.dev, bound, profile, msg["request"], msg["extra"], device=device)
        self.send("ready", settings=settings)

    def frame(self) -> None:
        """One frame: start, read it all into the shared buffer, report it (or the SANE status)."""
        lib, handle = self.lib, self.handle
        self.scanning = True
        status = lib.sane_start(handle)
        if status != GOOD:
            self.send("status", text=_text(lib, status), where="start")
            return
        params = Parameters()
        status = lib.sane_get_parameters(handle, ctypes.byref(params))
        if status != GOOD:
            self.send("status", text=_text(lib, status), where="parameters")
            return
        if params.format != FRAME_RGB or params.depth != 8:
            raise CaptureRefused(
                "not_colour",
                N_("frame format %(format)s, depth %(depth)s: need RGB 8-bit"),
                format=params.format, depth=params.depth,
            )
        line = params.bytes_per_line
        expected = line * params.lines if params.lines > 0 else line * 1024  # lines < 0: length unknown
        self.frames.ensure(expected + CHUNK)
        total, length, beat = 0, ctypes.c_int(0), time.monotonic()
        while True:
            if self.frames.size - total < CHUNK:
                self.frames.ensure(self.frames.size * 2)
            status = lib.sane_read(handle, self.frames.address + total, CHUNK, ctypes.byref(length))
            if status == EOF:
                break
            if status != GOOD:
                self.send("status", text=_text(lib, status), where="read", bytes=total)
                return
            total += length.value
            if time.monotonic() - beat > HEARTBEAT_S:
                self.send("progress", bytes=total)
                beat = time.monotonic()
        self.send(
            "frame",
            width=params.pixels_per_line,
            height=total // line if line else 0,
            bytes_per_line=line,
            size=total,
            buffer=self.frames.size,
        )

    def release(self) -> None:
        if self.dev is None:
            return
        if self.scanning:
            self.lib.sane_cancel(self.handle)
        self.dev.close()
        self.dev = None


def _text(lib: Any, status: int) -> str:
    return lib.sane_strstatus(status).decode("utf-8", "replace")


def _apply(
    dev: Any, bound: BoundProfile, profile: Profile, request: ScanRequest, extra: dict[str, Any], *, device: str
) -> dict[str, Any]:
    """Set the request through the profile, then read back what the device took."""
    names = bound.names
    wanted: dict[str, Any] = {}
    if "source" in names:
        wanted[names["source"]] = bound.choose("source", profile.sources, request.source)
    elif request.source != "flatbed":
        raise CaptureRefused(
            "unsupported",
            N_("%(device)s has no automatic document feeder (ADF). Scan on the glass instead."), device=device,
        )
    colour = bound.choose("mode", profile.modes, request.mode)
    wanted[names["mode"]] = colour
    if "depth" in names:
        wanted[names["depth"]] = 8
    wanted[names["resolution"]] = request.dpi
    width, height = PAGE_SIZES_MM[request.page_size]
    for logical, value in (
        ("page_width", width),
        ("page_height", height),
        ("tl_x", 0.0),
        ("tl_y", 0.0),
        ("br_x", width),
        ("br_y", height),
    ):
        if logical in names:
            wanted[names[logical]] = value
    for name, value in list(profile.fixed.items()) + list(extra.items()):
        wanted[py_name(name)] = value

    taken: dict[str, Any] = {}
    clamped: dict[str, list[Any]] = {}
    for name, value in wanted.items():
        got = _set(dev, name, value, device=device)
        taken[name] = got
        if _differs(value, got):
            clamped[name] = [value, got]
    # Setting one option can move another (source -> geometry limits): read all back at the end.
    for name in wanted:
        taken[name] = getattr(dev, name)
        if _differs(wanted[name], taken[name]):
            clamped[name] = [wanted[name], taken[name]]
    resolution = float(taken[names["resolution"]])
    check_dpi(resolution, what=f"resolution taken by {device}")
    if taken[names["mode"]] != colour:
        raise CaptureRefused(
            "not_colour",
            N_("%(device)s did not take colour mode (got '%(taken)s')"), device=device, taken=taken[names['mode']],
        )
    return {
        "profile": profile.family,
        "source": request.source,
        "mode": request.mode,
        "page_size": request.page_size,
        "resolution": resolution,
        "requested_dpi": request.dpi,
        "options": taken,
        "clamped": clamped,
        "double_feed": _double_feed(dev, profile, request),
    }


def _double_feed(dev: Any, profile: Profile, request: ScanRequest) -> dict[str, Any]:
    """Turn on the scanner's own double-feed detection where it has one, and say what was done.

    Backends report a detected double feed as SANE_STATUS_JAMMED (fujitsu, canon_dr: sense "double feed"),
    so the station can only tell the operator "jam or double feed" when detection is on: `on` says so.
    A refusal is recorded, never fatal: the sheet count against the work order still warns."""
    plan = profile.double_feed
    if not plan or request.source == "flatbed":
        return {"on": False, "set": {}, "skipped": {}}
    taken: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name, value in plan.items():
        py = py_name(name)
        opt = dev.opt.get(py)
        if opt is None:
            skipped[name] = "not offered"
        elif not opt.is_active():  # set in order: an earlier option may have made this one active
            skipped[name] = "inactive"
        else:
            try:
                setattr(dev, py, value)
                taken[name] = getattr(dev, py)
            except Exception as exc:  # noqa: BLE001 - _sane.error or TypeError: detection is a help only
                skipped[name] = f"refused: {exc}"
    on = bool(taken) and all(not _differs(plan[name], got) for name, got in taken.items())
    return {"on": on, "set": taken, "skipped": skipped}


def _set(dev: Any, name: str, value: Any, *, device: str) -> Any:
    if name not in dev.opt:
        raise CaptureRefused(
            "unknown_option",
            N_("%(device)s has no option '%(name)s' (options: %(opt)s)"),
            device=device, name=name, opt=', '.join(sorted(dev.opt)),
        )
    try:
        setattr(dev, name, value)
    except Exception as exc:  # noqa: BLE001 - TypeError/ValueError from python-sane, _sane.error from the backend
        raise CaptureRefused(
            "unknown_option",
            N_("%(device)s refused %(name)s='%(value)s': %(exc)s"), device=device, name=name, value=value, exc=exc,
        ) from exc
    return getattr(dev, name)


def _differs(wanted: Any, got: Any) -> bool:
    if isinstance(wanted, int | float) and isinstance(got, int | float) and not isinstance(wanted, bool):
        return abs(float(wanted) - float(got)) > 0.01
    return wanted != got


def list_devices() -> list[dict[str, str]]:
    import sane

    sane.init()
    return [
        {"id": name, "vendor": vendor, "model": model, "type": kind, "kind": "sane"}
        for name, vendor, model, kind in sane.get_devices()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sane_worker")
    parser.add_argument("--list", action="store_true", help="print the devices as JSON and exit")
    parser.add_argument("--control", type=int, help="fd of the command connection")
    parser.add_argument("--frames", type=int, help="fd of the shared frame buffer (memfd)")
    parser.add_argument("--parent", type=int, help="pid of the station; we die with it")
    parser.add_argument("--device", default="", help="for ps and logs only")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if args.parent:
        _die_with_parent(args.parent)
    if args.list:
        print(json.dumps(list_devices()), flush=True)
        return 0
    worker = Worker(Connection(args.control), FrameBuffer(args.frames))
    try:
        worker.serve()
    except (EOFError, OSError):  # the station went away: just release the device
        worker.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
