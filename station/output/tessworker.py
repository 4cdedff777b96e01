"""A Tesseract that stays loaded: one child process per language and caller, reused page after page, for OCR
(`recognise`, with a language such as "vie") and for orientation detection (`orientation`, with "osd").

Starting the `tesseract` program for every page cost about 0.4-0.5 s of CPU per A4 page on top of the
recognition itself (process start, loading the model and its dictionaries, and a fresh process's memory to
fault in), a quarter of the whole chain. The child here is the same library (libtesseract, through its C API)
with the same settings and the same three outputs (text-only PDF, txt, tsv written as `BASE.pdf|txt|tsv`), so
the text is the same character for character; it only skips the restart.

It stays a separate process, as the program was: a crash or a page that runs past its timeout costs that
page (OcrError; the child is killed and the next page starts a new one), never the caller. The child exits
when its stdin closes (the caller exited or was killed).

OSD paid the same start-up, about 0.3 s of CPU per candidate page (`tesseract stdin stdout -l osd --psm 0`,
once or twice a page). `orientation` gives that program's answer (TessBaseAPIDetectOrientationScript, as the
program's own OSD output does), with the confidences rounded to two decimals as the program prints them, so a
caller's threshold sees the same number.

Protocol on the child's stdin: one JSON line {"task", "width", "height", "dpi", ...} then width × height
bytes of 8-bit grey. "ocr" jobs add "psm" and "base" and are answered {"ok": true}; "osd" jobs add
"min_characters" and are answered {"ok": true, "osd": {...}} ("osd": null when there are too few characters
to judge by). Any job may be answered {"error": "..."}. At start the child answers {"ready": true} or
{"error": "..."}.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

log = logging.getLogger("sohoa.tesseract")

LIBRARY = "libtesseract.so.5"


class EngineError(RuntimeError):
    """The child failed; `kind` says how: "start" (could not start or load the language), "timeout",
    "exit" (it died: `code` is its exit status) or "page" (it refused this page and lives on)."""

    def __init__(self, kind: str, detail: str, *, code: int | None = None):
        super().__init__(detail)
        self.kind, self.detail, self.code = kind, detail, code


# -- in the child ------------------------------------------------------------------------------------------
def _library() -> Any:
    lib = ctypes.CDLL(LIBRARY)
    p, s, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for name, args, res in (
        ("TessBaseAPICreate", [], p),
        ("TessBaseAPIInit3", [p, s, s], i),
        ("TessBaseAPIGetDatapath", [p], s),
        ("TessBaseAPISetVariable", [p, s, s], i),
        ("TessBaseAPISetPageSegMode", [p, i], None),
        ("TessBaseAPISetImage", [p, p, i, i, i, i], None),
        ("TessBaseAPISetSourceResolution", [p, i], None),
        ("TessBaseAPIRecognize", [p, p], i),
        ("TessBaseAPIClear", [p], None),
        (
            "TessBaseAPIDetectOrientationScript",
            [p, ctypes.POINTER(i), ctypes.POINTER(ctypes.c_float), ctypes.POINTER(s), ctypes.POINTER(ctypes.c_float)],
            i,
        ),
        ("TessTextRendererCreate", [s], p),
        ("TessTsvRendererCreate", [s], p),
        ("TessPDFRendererCreate", [s, s, i], p),
        ("TessResultRendererInsert", [p, p], None),
        ("TessResultRendererBeginDocument", [p, s], i),
        ("TessResultRendererAddImage", [p, p], i),
        ("TessResultRendererEndDocument", [p], i),
        ("TessDeleteResultRenderer", [p], None),
    ):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


def _page(lib: Any, api: int, datapath: bytes, job: dict, pixels: bytes) -> None:
    """One page, as `tesseract stdin BASE --dpi D --psm P -c textonly_pdf=1 pdf txt tsv` does it."""
    width, height, dpi = int(job["width"]), int(job["height"]), int(job["dpi"])
    base = str(job["base"]).encode()
    lib.TessBaseAPISetVariable(api, b"user_defined_dpi", str(dpi).encode())
    lib.TessBaseAPISetPageSegMode(api, int(job["psm"]))
    buffer = ctypes.create_string_buffer(pixels, len(pixels))
    lib.TessBaseAPISetImage(api, buffer, width, height, 1, width)
    lib.TessBaseAPISetSourceResolution(api, dpi)
    renderer = lib.TessPDFRendererCreate(base, datapath, 1)  # text only: the image layer is ours
    lib.TessResultRendererInsert(renderer, lib.TessTextRendererCreate(base))
    lib.TessResultRendererInsert(renderer, lib.TessTsvRendererCreate(base))
    try:
        if not lib.TessResultRendererBeginDocument(renderer, b""):
            raise EngineError("page", "cannot write the outputs")
        if lib.TessBaseAPIRecognize(api, None) != 0:
            raise EngineError("page", "recognition failed")
        if not lib.TessResultRendererAddImage(renderer, api) or not lib.TessResultRendererEndDocument(renderer):
            raise EngineError("page", "cannot write the outputs")
    finally:
        lib.TessDeleteResultRenderer(renderer)  # closes the files of the whole chain
        lib.TessBaseAPIClear(api)


ROTATE_BY_ORIENTATION = {0: 0, 90: 270, 180: 180, 270: 90}  # Tesseract's OrientationIdToValue, in degrees


def _osd(lib: Any, api: int, job: dict, pixels: bytes) -> dict | None:
    """One page, as `tesseract stdin stdout -l osd --psm 0 --dpi D -c min_characters_to_try=M` answers it.
    The program lays the page out first (FindLines, in mode 0) and then asks; the asking clears those results
    and thresholds the page again, so the layout is skipped here (half the CPU; the answers were the same on
    every page of the orientation bench: bench/bench_osd.py). None when there are too few characters (the
    program then prints nothing and exits with 1)."""
    width, height, dpi = int(job["width"]), int(job["height"]), int(job["dpi"])
    lib.TessBaseAPISetVariable(api, b"user_defined_dpi", str(dpi).encode())
    lib.TessBaseAPISetVariable(api, b"min_characters_to_try", str(int(job["min_characters"])).encode())
    lib.TessBaseAPISetPageSegMode(api, 0)
    buffer = ctypes.create_string_buffer(pixels, len(pixels))
    lib.TessBaseAPISetImage(api, buffer, width, height, 1, width)
    lib.TessBaseAPISetSourceResolution(api, dpi)
    degrees, confidence = ctypes.c_int(), ctypes.c_float()
    script, script_confidence = ctypes.c_char_p(), ctypes.c_float()
    try:
        if not lib.TessBaseAPIDetectOrientationScript(
            api, ctypes.byref(degrees), ctypes.byref(confidence), ctypes.byref(script), ctypes.byref(script_confidence)
        ):
            return None
    finally:
        lib.TessBaseAPIClear(api)
    return {
        "degrees": degrees.value,
        "rotate": ROTATE_BY_ORIENTATION[degrees.value],
        # printed with two decimals by the program ("%.2f" in the C locale): the same text, the same float
        "confidence": float(f"{confidence.value:.2f}"),
        "script": (script.value or b"").decode("utf-8", "replace"),
        "script_confidence": float(f"{script_confidence.value:.2f}"),
    }


def _serve(lang: str) -> int:
    # the answers get a descriptor of their own; whatever the library prints goes to stderr, not into them
    out, inp = os.fdopen(os.dup(1), "wb"), sys.stdin.buffer
    os.dup2(2, 1)

    def answer(reply: dict) -> None:
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()

    lib = _library()
    api = lib.TessBaseAPICreate()
    if lib.TessBaseAPIInit3(api, None, lang.encode()) != 0:
        answer({"error": f"cannot load language {lang!r}"})
        return 1
    datapath = lib.TessBaseAPIGetDatapath(api)
    answer({"ready": True})
    while line := inp.readline():
        job = json.loads(line)
        pixels = inp.read(int(job["width"]) * int(job["height"]))
        try:
            if job.get("task") == "osd":
                answer({"ok": True, "osd": _osd(lib, api, job, pixels)})
            else:
                _page(lib, api, datapath, job, pixels)
                answer({"ok": True})
        except EngineError as exc:
            answer({"error": exc.detail})
    return 0


# -- in the caller -----------------------------------------------------------------------------------------
class Engine:
    """One child with `lang` loaded. Not thread-safe: `engine()` hands each caller its own."""

    def __init__(self, lang: str, *, timeout: float = 60.0):
        self.lang = lang
        self.stderr: IO[bytes] = tempfile.TemporaryFile(prefix="sohoa-tesseract-")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "station.output.tessworker", lang],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.stderr,
                env=dict(os.environ, OMP_THREAD_LIMIT="1"),  # one core per Tesseract; processes parallelise
            )
        except OSError as exc:
            self.stderr.close()
            raise EngineError("start", str(exc)) from exc
        try:
            reply = self._reply(timeout)
        except EngineError as exc:
            raise EngineError("start", exc.detail) from exc
        if not reply.get("ready"):
            self.close()
            raise EngineError("start", reply.get("error") or "no answer")

    def recognise(self, grey: bytes, *, width: int, height: int, dpi: int, psm: int, base: str, timeout: float) -> None:
        """Write BASE.pdf, BASE.txt and BASE.tsv for one page of 8-bit grey pixels, or raise EngineError."""
        job = {"task": "ocr", "width": width, "height": height, "dpi": dpi, "psm": psm, "base": base}
        self._ask(job, grey, timeout)

    def orientation(
        self, grey: bytes, *, width: int, height: int, dpi: int, min_characters: int, timeout: float
    ) -> dict | None:
        """OSD's answer for one page of 8-bit grey pixels (an engine loaded with "osd"): {"rotate" (the
        clockwise turn that makes it upright), "degrees", "confidence", "script", "script_confidence"}, or
        None when there are too few characters to judge by. Raises EngineError."""
        job = {"task": "osd", "width": width, "height": height, "dpi": dpi, "min_characters": min_characters}
        answer = self._ask(job, grey, timeout).get("osd")
        return dict(answer) if answer else None

    def _ask(self, job: dict, grey: bytes, timeout: float) -> dict:
        if len(grey) != int(job["width"]) * int(job["height"]):
            raise ValueError(f"{len(grey)} bytes for a {job['width']} x {job['height']} page")
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(job).encode() + b"\n")
            self.proc.stdin.write(grey)
            self.proc.stdin.flush()
        except OSError as exc:
            code = self.proc.poll()
            tail = self._stderr_tail() or str(exc)
            self.close()
            raise EngineError("exit", tail, code=code) from exc
        reply = self._reply(timeout)
        self._log_stderr()
        if "error" in reply:
            raise EngineError("page", reply["error"])
        return reply

    def _reply(self, timeout: float) -> dict:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.close()
                raise EngineError("timeout", f"no answer within {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            tail = self._stderr_tail()
            self.close()
            raise EngineError("exit", tail, code=code)
        try:
            return dict(json.loads(line))
        except ValueError as exc:
            self.close()
            raise EngineError("exit", f"unreadable answer {line[:80]!r}") from exc

    def _stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace").strip()[-300:]

    def _log_stderr(self) -> None:
        self.stderr.seek(0)
        for line in self.stderr.read().decode("utf-8", "replace").splitlines():
            if line.strip():
                log.debug("%s", line)
        self.stderr.seek(0)
        self.stderr.truncate()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with suppress(OSError):  # unsent bytes to a dead child
                    pipe.close()
        self.stderr.close()


_idle: dict[str, list[Engine]] = {}
_lock = threading.Lock()


def _forget_after_fork() -> None:
    """A forked child (a worker pool) must not talk to its parent's engines: it lets go of their pipes
    (without stopping them, they are the parent's) and starts its own when it needs one."""
    global _idle, _lock
    for engines in _idle.values():
        for taken in engines:
            for pipe in (taken.proc.stdin, taken.proc.stdout, taken.stderr):
                if pipe is not None:
                    with suppress(OSError):
                        pipe.close()
    _idle, _lock = {}, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


_closing_in: int | None = None  # the process that registered `close_all` to run at its exit


def close_all() -> None:
    """Stop this process's idle engines and wait for them (their CPU time is then counted as this
    process's children's). Runs at exit, also in a multiprocessing worker, which skips atexit."""
    with _lock:
        engines = [taken for pool in _idle.values() for taken in pool]
        _idle.clear()
    for taken in engines:
        if taken.proc.stdin is not None:
            with suppress(OSError):
                taken.proc.stdin.close()  # end of input: the child leaves its loop
        try:
            taken.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        taken.close()


def _close_at_exit() -> None:
    global _closing_in
    if _closing_in != os.getpid():
        from multiprocessing import util

        atexit.register(close_all)
        util.Finalize(None, close_all, exitpriority=100)
        _closing_in = os.getpid()


@contextmanager
def engine(lang: str) -> Iterator[Engine]:
    """An idle engine for `lang` (or a new one) for the length of a `with` block: each caller (a thread, a
    worker process) has its own; it is kept for the next page unless something failed."""
    taken = None
    with _lock:
        pool = _idle.setdefault(lang, [])
        while pool and taken is None:
            candidate = pool.pop()
            if candidate.alive:
                taken = candidate
            else:
                candidate.close()
    if taken is None:
        _close_at_exit()
        started = time.perf_counter()
        taken = Engine(lang)
        log.debug("tesseract %s loaded in %.2f s", lang, time.perf_counter() - started)
    try:
        yield taken
    except BaseException:
        taken.close()
        raise
    if taken.alive:
        with _lock:
            _idle[lang].append(taken)
    else:
        taken.close()


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1]))
