"""Each document's PDF, taken out of the package once and opened once for every check that needs it.

One job per document gives the PDF/A problems, the page count, the signature verdict, the size and SHA-256
the fixity check compares with METS (and, for the catalogue, the text layer: the station's text file when
the package has one whose form feeds count the PDF's pages, else pdftotext, started first so it runs beside
the checks). Jobs run in a pool
of worker processes, one per core: the PDF/A walk is Python and holds the GIL, so threads would not help.
The pool is started once per server process (spawn: the server has threads, fork would copy their locks)
and reused; until its workers are up, or if it breaks (a worker killed, e.g. out of memory), the jobs run
here, one after the other. Memory: each worker holds one document's bytes and its parsed objects at a time.

A job catches what each step raised and hands it back, so each check fails or crashes exactly as it did
when it opened the file itself: the verdict does not depend on where the work ran.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import logging
import os
import re
import shutil
import threading
import time
import zlib
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Job:
    package: Path
    member: str
    # our own name in the check's private folder (a hostile member name never reaches disk); None for a job
    # with a span, which writes nothing
    dest: Path | None
    trust_roots: list[bytes]
    text: bool = False
    text_member: str = ""  # the station's text layer of this PDF in the package, when METS lists one
    # (offset, size): the bytes are read from `package` as a plain file at that offset into memory, not taken
    # out of a zip, and checked there (server.ingest.early: a stored member of an upload
    # still arriving); the job then also gives their CRC-32.
    # Such a job never has `text`: the text layer is another member, read at commit (attach_packed_text).
    span: tuple[int, int] | None = None


@dataclass
class Findings:
    """What one document's PDF gave. `*_error` is what the step raised (re-raised by its check)."""

    present: bool = True  # False: the member could not be taken out of the package (PackageError)
    pdfa: list[str] = field(default_factory=list)
    pdfa_error: BaseException | None = None
    pages: int | None = None
    open_error: str = ""  # why pikepdf could not open it, worded as the counts check words it
    signature: Any = None  # protocol.signatures.SignatureVerdict
    signature_error: BaseException | None = None
    text: str | None = None  # the text layer (None: not asked; '' when pdftotext failed, as pdf_text)
    text_packed: bool = False  # the text is the package's text file (else pdftotext of the PDF)
    size: int = -1  # size and SHA-256 of the member's bytes as taken out (the fixity check's, read once)
    sha256: str = ""
    crc32: int = -1  # of the same bytes, for a job with a span (the central directory must agree)
    worker: int = 0  # the process that did the work


def _picklable(exc: BaseException) -> BaseException:
    """The exception itself if it crosses a process boundary intact, else a RuntimeError with its words."""
    import pickle

    try:
        back = pickle.loads(pickle.dumps(exc))
        if type(back) is type(exc) and str(back) == str(exc):
            return exc
    except Exception:  # noqa: BLE001 - any pickling failure: fall back to the words
        pass
    return RuntimeError(f"{type(exc).__name__}: {exc}")


def inspect(job: Job) -> Findings:
    """Take the member out, then PDF/A, page count and signature from one read and one pikepdf open. A job
    with a span reads its bytes into memory and works on them there: no copy on disk, and what is hashed is
    what is checked even if the upload's file changes meanwhile."""
    import pikepdf

    from protocol.package.model import PackageError
    from protocol.package.source import open_source
    from protocol.pdftext import finish_pdf_text, start_pdf_text

    if job.span is not None:
        found = Findings(worker=os.getpid())
        _checks(job, found, pikepdf, raw=_read_span(job.package, *job.span))  # raises: the caller does it
        return found
    dest = job.dest
    assert dest is not None, "a job without a span is taken out of the package to its dest"
    try:
        with open_source(job.package) as source:
            source.copy_to(job.member, dest)
            packed = _packed_text(source, job) if job.text and job.text_member else None
    except PackageError:
        return Findings(present=False, worker=os.getpid())
    found = Findings(worker=os.getpid())
    run = job.text and packed is None
    text_from = _text_source(dest, pikepdf) if run else dest
    proc = start_pdf_text(text_from) if run else None
    try:
        _checks(job, found, pikepdf)
    finally:
        if packed is not None and not _take_packed(job, packed, found):
            text_from = _text_source(dest, pikepdf)
            proc = start_pdf_text(text_from)
        if job.text and not found.text_packed:
            found.text = finish_pdf_text(proc)
            if proc is not None and proc.returncode != 0 and text_from != dest:  # our update not read
                found.text = finish_pdf_text(start_pdf_text(dest))
    return found


def _packed_text(source: Any, job: Job) -> str | None:
    """The station's text layer of this PDF (protocol.pdftext form; the fixity check holds its bytes to
    METS), or None when it cannot be read as UTF-8: the catalogue then runs pdftotext, as for a package
    made before text layers travelled."""
    from protocol.package.model import PackageError
    from protocol.pdftext import decode

    try:
        text = decode(source.read(job.text_member))
    except PackageError as exc:
        log.warning("%s unreadable (%s): the catalogue takes pdftotext's text", job.text_member, exc)
        return None
    if text is None:
        log.warning("%s is not UTF-8: the catalogue takes pdftotext's text", job.text_member)
    return text


def _take_packed(job: Job, packed: str, found: Findings) -> bool:
    """The one rule for the station's text: taken when its form feeds count the PDF's pages."""
    from protocol.pdftext import page_count

    if page_count(packed) != found.pages:
        log.warning("%s: its text file has %d pages, the PDF %s: the catalogue takes pdftotext's text",
                    job.text_member, page_count(packed), found.pages)
        return False
    found.text, found.text_packed = packed, True
    return True


def attach_packed_text(source: Any, job: Job, found: Findings) -> bool:
    """Give findings made without text (an early job, read while the upload arrived) the package's text layer
    of `job`'s PDF, as `inspect` would have; False when there is none to take (no text file, unreadable, not
    UTF-8, or its pages do not count the PDF's): the caller then runs the job the normal way."""
    packed = _packed_text(source, job) if job.text_member else None
    return packed is not None and _take_packed(job, packed, found)


def _text_copy(path: Path) -> Path:
    return path.with_name(path.stem + ".text.pdf")


def _read_span(path: Path, offset: int, size: int) -> bytes:
    """The `size` bytes at `offset` of `path`."""
    with open(path, "rb") as src:
        src.seek(offset)
        raw = src.read(size)
    if len(raw) != size:
        raise OSError(f"{path}: {size - len(raw)} bytes missing at offset {offset + len(raw)}")
    return raw


STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")


def _text_source(path: Path, pikepdf: Any) -> Path:
    """The file pdftotext reads for the catalogue: a copy of `path` with one incremental update that drops
    the catalog's /OutputIntents, else `path` itself. poppler builds colour transforms from the output
    intent's ICC profile for every page (lcms2, about two thirds of pdftotext's CPU on our 50-page
    documents) and text extraction never uses them: same text, a third of the CPU (docs/bench/archive.md).
    The checks read the original; a copy pdftotext cannot read falls back to the original (inspect)."""
    try:
        with pikepdf.open(path) as pdf:
            root = pdf.Root
            if "/OutputIntents" not in root or not root.is_indirect or pdf.is_encrypted:
                return path
            number, generation = root.objgen
            size = int(pdf.trailer.get("/Size", 0))
            del root["/OutputIntents"]  # in memory only: this Pdf is never saved
            body = root.unparse(resolved=True)
        with open(path, "rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, end - 1024))
            found = STARTXREF.search(handle.read())
        if not found or size <= number:
            return path
        copy = _text_copy(path)
        shutil.copyfile(path, copy)  # in the kernel (copy_file_range), no pass through Python
        obj = b"\n%d %d obj\n%s\nendobj\n" % (number, generation, body)
        xref = end + len(obj)
        update = obj + (b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d %05d n \ntrailer\n"
                        b"<< /Size %d /Root %d %d R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
                        % (number, end + 1, generation, size, number, generation, int(found.group(1)), xref))
        with open(copy, "ab") as handle:
            handle.write(update)
        return copy
    except Exception:  # noqa: BLE001 - any doubt: pdftotext reads the original, as it always did
        log.debug("no text copy of %s", path, exc_info=True)
        return path


def _checks(job: Job, found: Findings, pikepdf: Any, *, raw: bytes | None = None) -> None:
    """The checks of `job.dest`, or of `raw` (a span's bytes in memory)."""
    from protocol.signatures import validate_pdf_signatures

    source: bytes | Path
    if raw is None:
        assert job.dest is not None, "a job without bytes in memory reads its dest"
        source = job.dest
    else:
        source = raw
    read_error: OSError | None = None
    try:
        raw = source.read_bytes() if isinstance(source, Path) else source
        found.size, found.sha256 = len(raw), hashlib.sha256(raw).hexdigest().upper()
        if job.span is not None:
            found.crc32 = zlib.crc32(raw)
    except OSError as exc:
        read_error = exc
    pdf, open_exc = None, None
    try:
        pdf = pikepdf.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a reason, not a crash
        open_exc = exc
        found.open_error = f"PDF cannot be opened ({type(exc).__name__}: {exc})"
    try:
        if pdf is not None:
            found.pages = len(pdf.pages)
        try:
            found.pdfa = _pdfa(job.dest, raw, read_error, pdf, open_exc, pikepdf)
        except Exception as exc:  # noqa: BLE001 - the pdfa check crashes with it, as it did
            found.pdfa_error = _picklable(exc)
    finally:
        if pdf is not None:
            pdf.close()
        raw = None  # a large document read from a file: let it go before the signature reads the file again
    try:
        found.signature = validate_pdf_signatures(source, trust_roots=job.trust_roots)
    except Exception as exc:  # noqa: BLE001 - it catches its own; anything else crashes the check as before
        found.signature_error = _picklable(exc)


def _pdfa(path: Path | None, raw: bytes | None, read_error: OSError | None, pdf: Any, open_exc: BaseException | None,
          pikepdf: Any) -> list[str]:
    """protocol.pdfa_check.check_pdfa, step for step, on the bytes and the object already at hand."""
    from protocol import pdfa_check

    if raw is None:
        return [f"cannot read {path}: {read_error.strerror if read_error else ''}"]
    problems = pdfa_check.header_problems(raw)
    if open_exc is not None:
        if isinstance(open_exc, pikepdf.PasswordError):
            return problems + ["encryption: the file is encrypted (PDF/A forbids it)"]
        if isinstance(open_exc, pikepdf.PdfError):
            return problems + [f"not a readable PDF: {open_exc}"]
        raise open_exc
    return problems + pdfa_check.check_opened(pdf, raw)


# ------------------------------------------------------------------------------------------------ the pool

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def workers() -> int:
    return max(1, os.cpu_count() or 1)


def _get_pool() -> ProcessPoolExecutor | None:
    global _pool
    with _pool_lock:
        if _pool is None and workers() > 1:
            _pool = ProcessPoolExecutor(max_workers=workers(), mp_context=get_context("spawn"),
                                        initializer=_warm, initargs=(os.getpid(),))
        return _pool


def _exit_with_parent(parent: int) -> None:
    """A worker whose server died (kill -9, power cut of a container) must not live on, orphaned."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _warm(parent: int) -> None:
    """Import the validators once per worker, not on its first document; leave when the server goes (its
    pid comes from the server: a worker still starting when the server died would see init as its parent)."""
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="sohoa-parent").start()
    import pikepdf  # noqa: F401

    import protocol.pdfa_check  # noqa: F401
    import protocol.pdftext  # noqa: F401
    import protocol.signatures  # noqa: F401


def _nothing() -> None:
    pass


_warming: list[Future] = []


def warm() -> None:
    """Start the workers now (the server calls this at start), so no package waits for them to start and
    import (seconds on a busy Pi). Returns at once; until they are up, jobs run in this process."""
    pool = _get_pool()
    with _pool_lock:
        if pool is not None and not _warming:
            _warming.extend(pool.submit(_nothing) for _ in range(workers()))


def ready(timeout: float = 0) -> ProcessPoolExecutor | None:
    """The pool once every worker has started (waiting up to `timeout` s for it), else None."""
    with _pool_lock:
        pool, started = _pool, list(_warming)
    if pool is None or not started:
        return None
    try:
        for future in started:
            future.result(timeout=timeout)
    except Exception:  # noqa: BLE001 - not up yet (TimeoutError), or broken: the caller works here
        return None
    return pool


def _drop_pool(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is broken:
            _pool = None
            _warming.clear()
    broken.shutdown(wait=False, cancel_futures=True)


@atexit.register
def _stop_pool() -> None:
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)


def submit(jobs: dict[str, Job]) -> dict[str, Future]:
    """Start every job (key -> future of Findings) in the pool, or here, one after the other, while the pool
    is not up yet (a server just started, or a one-off check from the command line)."""
    pool = ready()
    if pool is None:
        warm()
    futures: dict[str, Future] = {}
    for key, job in jobs.items():
        if pool is not None:
            try:
                futures[key] = pool.submit(inspect, job)
                continue
            except (BrokenProcessPool, RuntimeError):
                _drop_pool(pool)
                pool = None
        futures[key] = _here(job)
    return futures


def _here(job: Job) -> Future:
    done: Future = Future()
    try:
        done.set_result(inspect(job))
    except BaseException as exc:  # noqa: BLE001 - handed to whoever asks, as a pool future would
        done.set_exception(exc)
    return done


def result(job: Job, future: Future) -> Findings:
    """The job's findings; a pool that broke under it (a worker killed) does the job here instead."""
    try:
        return future.result()
    except BrokenProcessPool:
        log.warning("check worker pool broke; inspecting %s in the server process", job.member)
        global _pool
        with _pool_lock:
            _pool = None
            _warming.clear()
        return inspect(job)
