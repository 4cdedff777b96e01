"""Each document's PDF work started while the upload still arrives (issue #15 point 8).

A package zip stores its PDFs as they are (method 0) with their sizes in the local header (zip64 extra
field), so once the bytes of a member are on disk its PDF job (server.checks.pdfwork, with a `span`) can
run, and the commit's wall time becomes about the larger of the upload and the checks instead of their sum.

Nothing here decides anything. The local headers are parsed only to know *when* to start a job; at commit
the central directory decides (`Claim.take`): a job's findings are used only for a member that zipfile
would read from the same offset (its own open succeeds: names agree, no overlap, not encrypted), stored,
with the size the job read and a CRC-32 equal to the job's. Anything else (a zip64 central directory that
disagrees, a data descriptor, a deflated PDF, a member past the end, a job that failed, a document that
arrived last) runs the normal job at commit, exactly as without this module.

The bytes must not change after a job read them:
- a chunk this process writes at an offset below what it had received (a resent chunk truncates the file
  there) drops every job whose member ends past that offset, and the parsing restarts from there;
- a chunk another server process writes (chunks of one upload may go to different servers sharing the
  uploads folder): after each of its own writes this process sets the part file's mtime to a stamp of its
  own (a random instant in the last second) and keeps it. Any later write by anyone sets the mtime to the
  kernel's clock, so a changed mtime, or a file gone or replaced, drops everything this process had for the
  upload, and it does no more early work for it. A commit at another process never sees this memory and
  runs the normal checks.

Bounded: at most two early jobs in flight per worker process (the others wait for the next chunk to
arrive, or run at commit); state for at most MAX_UPLOADS uploads (the least recently written goes, and
one left alone for MAX_AGE_S), dropped at commit, on a hash mismatch and at expiry. Each job reads its
member's bytes into memory and checks them there (it writes nothing to disk); at most two per worker hold
one document's bytes each.
"""

from __future__ import annotations

import logging
import os
import secrets
import struct
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from protocol.package.source import Source
from server.checks import pdfwork

log = logging.getLogger(__name__)

MAX_UPLOADS = 4
# A signature is validated against the clock (certificate validity): findings older than this are redone
# at commit, so an early verdict and the commit's own differ at most as two commits minutes apart would.
MAX_AGE_S = 600
LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # signature ... name length, extra length (APPNOTE 4.3.7)
LOCAL_SIGNATURE = 0x04034B50
ZIP64_EXTRA = 0x0001


@dataclass
class _Entry:
    """One local header as parsed: its member's name, where its data is, and its job if it has one."""

    header_offset: int
    data_offset: int
    end: int
    name: str
    job: pdfwork.Job | None = None
    future: Future | None = None
    started: float = 0.0  # time.monotonic() at submission


@dataclass
class _Upload:
    path: Path
    stamp: int = 0  # the part file's mtime as this process last left it
    known: int = 0  # bytes on disk this process knows (its own last write's end)
    parsed: int = 0  # where the next local header starts
    stopped: bool = False  # a header this parser does not follow (data descriptor, not a local header)
    generation: int = 0  # rewrites seen; a job survives one only if its member ends before the rewrite
    entries: list[_Entry] = field(default_factory=list)
    touched: float = 0.0


def _stat_mtime(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


class EarlyChecks:
    """The early PDF jobs of the uploads this process receives (one instance per server process)."""

    def __init__(self, *, max_uploads: int = MAX_UPLOADS):
        self.max_uploads = max_uploads
        self._lock = threading.Lock()
        self._uploads: dict[str, _Upload] = {}
        # Uploads another process wrote to after this one started on them (chunks spread over servers): each
        # foreign chunk would drop this process's jobs again, so it leaves them to the commit.
        self._shared: deque[str] = deque(maxlen=64)

    # -- chunks ------------------------------------------------------------------------------------
    def before_write(self, upload_id: str, path: Path, offset: int) -> None:
        """Called under the upload's lock before a chunk is written at `offset`."""
        with self._lock:
            up = self._uploads.get(upload_id)
            if up is None:
                return
            if _stat_mtime(path) != up.stamp:
                self._drop(upload_id, "written by another process")
                self._shared.append(upload_id)  # chunks shared between servers: no early work here
                return
            if offset < up.known:
                self._rewind(up, offset)

    def after_write(self, upload_id: str, path: Path, received: int, *, trust_roots: list[bytes]) -> None:
        """Called under the upload's lock once a chunk is on disk and `received` bytes are counted. Never
        raises: the chunk is stored and counted whatever happens here."""
        if pdfwork.ready() is None:  # early work only beside a running pool, never in the request thread
            return
        with self._lock:
            try:
                self._arrived(upload_id, path, received, trust_roots)
            except Exception:  # noqa: BLE001 - only a shortcut: the commit does the work
                log.exception("early checks of %s dropped", upload_id)
                self._drop(upload_id, "failed")

    def _arrived(self, upload_id: str, path: Path, received: int, trust_roots: list[bytes]) -> None:
        if upload_id in self._shared:
            return
        up = self._uploads.get(upload_id)
        if up is None:
            up = self._uploads[upload_id] = _Upload(path)
        self._bound(keep=upload_id)
        stamp = time.time_ns() - 1 - secrets.randbelow(10**9)
        os.utime(path, ns=(os.stat(path).st_atime_ns, stamp))
        up.stamp = os.stat(path).st_mtime_ns
        up.known, up.touched = received, time.monotonic()
        self._parse(up)
        self._pump(trust_roots)

    def drop(self, upload_id: str) -> None:
        """Forget an upload (expired, or its bytes thrown away)."""
        with self._lock:
            self._drop(upload_id, "dropped")

    # -- commit --------------------------------------------------------------------------------------
    def claim(self, upload_id: str, path: Path) -> Claim | None:
        """At commit, under the upload's lock: the upload's jobs, taken out of this registry (so no chunk
        or pump touches them again), if the part file is still as this process left it."""
        with self._lock:
            up = self._uploads.pop(upload_id, None)
        if up is None:
            return None
        if _stat_mtime(path) != up.stamp:
            _close(up)
            log.info("early checks of %s not used: the file was written by another process", upload_id)
            return None
        return Claim(up)

    # -- inside ---------------------------------------------------------------------------------------
    def _drop(self, upload_id: str, why: str) -> None:
        up = self._uploads.pop(upload_id, None)
        if up is not None:
            log.debug("early checks of %s dropped: %s", upload_id, why)
            _close(up)

    def _bound(self, *, keep: str) -> None:
        """Uploads left alone longer than MAX_AGE_S go (their findings could no longer be used: abandoned,
        or committed at another server), then the least recently written beyond `max_uploads`."""
        now = time.monotonic()
        for stale in [u for u, up in self._uploads.items() if u != keep and now - up.touched > MAX_AGE_S]:
            self._drop(stale, "left alone")
        while len(self._uploads) > self.max_uploads:
            oldest = min((u for u in self._uploads if u != keep), key=lambda u: self._uploads[u].touched)
            self._drop(oldest, "too many uploads at once")

    def _rewind(self, up: _Upload, offset: int) -> None:
        """A resent chunk at `offset` truncates the file there: every member ending past it is gone."""
        up.generation += 1
        kept = [e for e in up.entries if e.end <= offset]
        for entry in up.entries[len(kept) :]:
            if entry.future is not None:
                entry.future.cancel()
        up.entries = kept
        up.parsed = kept[-1].end if kept else 0
        up.known = offset
        up.stopped = False

    def _parse(self, up: _Upload) -> None:
        """Follow the local headers whose member is complete on disk (never past `known`)."""
        if up.stopped:
            return
        try:
            with open(up.path, "rb") as handle:
                while up.parsed + LOCAL_HEADER.size <= up.known:
                    handle.seek(up.parsed)
                    entry = _local_entry(handle, up.parsed, up.known)
                    if entry is None:  # not complete yet
                        return
                    up.entries.append(entry)
                    up.parsed = entry.end
        except (_NotFollowed, OSError):
            up.stopped = True

    def _pump(self, trust_roots: list[bytes]) -> None:
        """Start the jobs of complete PDF members: at most one running and one waiting per worker, so the
        pool never holds a long queue of work for uploads that may never be committed."""
        pool = pdfwork.ready()
        if pool is None:
            return
        running = sum(1 for u in self._uploads.values() for e in u.entries if e.future and not e.future.done())
        for up in sorted(self._uploads.values(), key=lambda u: u.touched):
            for entry in up.entries:
                if running >= 2 * pdfwork.workers():
                    return
                if entry.job is not None or not entry.name.lower().endswith(".pdf"):
                    continue
                size = entry.end - entry.data_offset
                entry.job = pdfwork.Job(
                    up.path,
                    entry.name,
                    None,  # nothing written: the job reads its span into memory
                    trust_roots,
                    span=(entry.data_offset, size),  # no text: the station's text file is read at commit
                )
                try:
                    entry.future = pool.submit(pdfwork.inspect, entry.job)
                    entry.started = time.monotonic()
                except RuntimeError:  # a broken pool: the commit does the work
                    return
                running += 1


class _NotFollowed(Exception):
    """A header this parser does not follow: no local header (the central directory, or junk), a data
    descriptor or encryption, zip64 sizes it cannot read."""


def _local_entry(handle: BinaryIO, offset: int, known: int) -> _Entry | None:
    """The local header at `offset`: an entry whose data ends within `known` bytes, None when more bytes
    are needed; raises _NotFollowed. A PDF's entry is only a candidate: the
    central directory decides at commit."""
    raw = handle.read(LOCAL_HEADER.size)
    if len(raw) < LOCAL_HEADER.size:
        return None
    sig, _, flags, method, _, _, _, csize, usize, name_len, extra_len = LOCAL_HEADER.unpack(raw)
    if sig != LOCAL_SIGNATURE or flags & 0x9:  # bit 0 encrypted, bit 3 sizes in a data descriptor
        raise _NotFollowed
    data = offset + LOCAL_HEADER.size + name_len + extra_len
    if data > known:
        return None
    name_raw = handle.read(name_len)
    extra = handle.read(extra_len)
    if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:
        sizes = _zip64_sizes(extra, usize, csize)
        if sizes is None:
            raise _NotFollowed
        usize, csize = sizes
    end = data + csize
    if end > known:
        return None
    name = name_raw.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
    entry = _Entry(offset, data, end, name)
    if method != 0 or usize != csize:
        entry.name = ""  # followed past, never checked early
    return entry


def _zip64_sizes(extra: bytes, usize: int, csize: int) -> tuple[int, int] | None:
    """The zip64 extra field's sizes (only those whose 32-bit field is 0xFFFFFFFF, in this order)."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        body = extra[at + 4 : at + 4 + length]
        if tag == ZIP64_EXTRA:
            values = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            if usize == 0xFFFFFFFF:
                if not values:
                    return None
                usize = values.pop(0)
            if csize == 0xFFFFFFFF:
                if not values:
                    return None
                csize = values.pop(0)
            return usize, csize
        at += 4 + length
    return None


def _close(up: _Upload) -> None:
    """Cancel the jobs not started; a running job ends by itself and its findings are not used (it writes
    nothing to disk, so nothing is left to remove)."""
    for entry in up.entries:
        if entry.future is not None:
            entry.future.cancel()


class Claim:
    """An upload's early jobs at its commit: `take` gives a job's future only where the central directory
    says the normal job would read the very bytes the early one read; `close` ends the rest."""

    def __init__(self, up: _Upload):
        self._up = up
        self._by_offset = {e.header_offset: e for e in up.entries if e.future is not None}
        self.used = 0

    def take(self, source: Source, job: pdfwork.Job) -> tuple[Future, int, int] | None:
        """(future, size, CRC-32 the findings must show) for the normal `job`, or None: run it."""
        span = source.stored_span(job.member)
        if span is None:
            return None
        entry = self._by_offset.get(span.header_offset)
        if (
            entry is None
            or entry.job is None
            or entry.future is None
            or entry.future.cancelled()
            or entry.name != job.member
            or entry.data_offset != span.data_offset
            or entry.end - entry.data_offset != span.size
            or (job.text and not job.text_member)  # the text must come from pdftotext: the normal job does both
            or entry.job.trust_roots != job.trust_roots
            or time.monotonic() - entry.started > MAX_AGE_S
        ):
            return None
        self.used += 1
        return entry.future, span.size, span.crc32

    def close(self) -> None:
        _close(self._up)
