"""The durable page journal: a page exists for the station only once its file is fsynced in its final
place and its row is committed. Nobody hears of a page before that.

On start-up `reconcile()` compares files and rows: a file without a row (the station died between the
rename and the commit, or mid-write) is moved to quarantine/ and reported, never used; a row whose file
is missing or altered is reported.
"""

from __future__ import annotations

import logging
import shutil
import struct
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from protocol.clock import iso_vn, now_vn
from protocol.durable import fsync_dir, move_atomic, write_atomic
from protocol.errors import say
from protocol.hashing import sha256_bytes, sha256_file
from protocol.i18n import DEFAULT, N_
from station.capture.source import CapturedImage, CaptureRefused
from station.store import Page, Store

log = logging.getLogger(__name__)

#: zlib level 1 with no PNG row filter (OpenCV's libpng): the cheapest lossless PNG that still compresses a
#: clean page 15-20x; 2-3x faster than Pillow's level 1 (adaptive filters). See docs/bench/capture.md.
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
#: Original formats: png (default) or uncompressed tiff (fastest to write, 26 MB per A4 300 dpi page).
FORMATS = {"png": ".png", "tiff": ".tif"}
#: Refuse to start / stop a run when the data folder's free space falls below this (configurable).
MIN_FREE_MB = 500.0
#: ... or below this many pages' worth (the largest page written so far), whichever is more.
MIN_FREE_PAGES = 3
#: Never write a page that would leave less than this: room for the journal row, the WAL and the audit.
FLOOR_MB = 8.0


class JournalError(Exception):
    """The page could not be made durable (disk full, read-only, ...); capture stops so nothing is lost."""

    code = "storage_error"

    def __init__(self, detail: str):
        self.message = f"Could not store the page: {detail}"  # English, for logs
        self.said = say(N_("The page just scanned could not be stored (disk full or a disk error). Tell the "
                           "technician; the pages stored before are intact."))
        super().__init__(self.message)

    def text(self, lang: str = DEFAULT) -> str:
        return self.said.text(lang)


@dataclass
class ReconcileReport:
    checked: int = 0
    quarantined: list[str] = field(default_factory=list)  # paths (relative to data_dir) now in quarantine
    missing: list[dict[str, Any]] = field(default_factory=list)  # rows whose file is gone
    corrupt: list[dict[str, Any]] = field(default_factory=list)  # rows whose file's hash differs

    @property
    def clean(self) -> bool:
        return not (self.quarantined or self.missing or self.corrupt)


def disk_full(free: int, needed: int, where: Path) -> CaptureRefused:
    """The refusal an operator sees when the data folder is (nearly) full; nothing in the batch is harmed."""
    mb = 1024 * 1024
    return CaptureRefused(
        "disk_full",
        N_("not enough free space in %(where)s: %(free_mb).0f MB free, %(needed_mb).0f MB needed to scan safely"),
        where=where, free_mb=free / mb, needed_mb=needed / mb)


def encode_original(image: np.ndarray, dpi: float, fmt: str = "png") -> bytes:
    """Lossless bytes of an RGB frame: PNG (with its resolution in pHYs) or uncompressed TIFF."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)  # OpenCV writes BGR; one 26 MB pass, ~30 ms
    if fmt == "tiff":
        ok, buf = cv2.imencode(".tif", bgr, [cv2.IMWRITE_TIFF_COMPRESSION, 1, cv2.IMWRITE_TIFF_RESUNIT, 2,
                                             cv2.IMWRITE_TIFF_XDPI, round(dpi), cv2.IMWRITE_TIFF_YDPI, round(dpi)])
        if not ok:
            raise ValueError("TIFF encoding failed")
        return buf.tobytes()
    if fmt != "png":
        raise ValueError(f"unknown original format {fmt!r} (use one of {', '.join(FORMATS)})")
    ok, buf = cv2.imencode(".png", bgr, PNG_PARAMS)
    if not ok:
        raise ValueError("PNG encoding failed")
    data = buf.tobytes()
    # OpenCV writes no pHYs chunk: add one after IHDR so every tool reads the scan's resolution.
    ppm = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def encode_png(captured: CapturedImage) -> bytes:
    return encode_original(captured.image, captured.dpi, "png")


class Journal:
    def __init__(self, store: Store, data_dir: Path, *, image_format: str = "png",
                 min_free_mb: float = MIN_FREE_MB, floor_mb: float = FLOOR_MB):
        if image_format not in FORMATS:
            raise ValueError(f"unknown original format {image_format!r} (use one of {', '.join(FORMATS)})")
        self.store = store
        self.data_dir = Path(data_dir)
        self.image_format = image_format
        self.min_free = int(min_free_mb * 1024 * 1024)
        self.floor = int(floor_mb * 1024 * 1024)
        self.largest_page = 0  # bytes of the largest original written: "N pages' worth" of space
        self.pages_dir = self.data_dir / "pages"
        self.quarantine_dir = self.data_dir / "quarantine"
        self._lock = threading.Lock()  # seq allocation + write + commit, one page at a time per journal
        self._uids: dict[int, str] = {}

    def batch_dir(self, batch_id: int) -> Path:
        if batch_id not in self._uids:
            self._uids[batch_id] = self.store.batch(batch_id)["uid"]
        return self.pages_dir / self._uids[batch_id]

    # -- disk space guard ----------------------------------------------------------------------------
    def free_bytes(self) -> int:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.data_dir).free

    def space_needed(self) -> int:
        """Free bytes a run needs to start or go on: MIN_FREE_MB, or MIN_FREE_PAGES of the largest page."""
        return max(self.min_free, MIN_FREE_PAGES * self.largest_page, self.floor)

    def space_problem(self) -> CaptureRefused | None:
        """A 'disk_full' refusal when free space is below `space_needed()`, else None."""
        free, needed = self.free_bytes(), self.space_needed()
        return disk_full(free, needed, self.data_dir) if free < needed else None

    def check_space(self) -> None:
        """Raise CaptureRefused('disk_full') before a run when the data folder is nearly full."""
        if (problem := self.space_problem()) is not None:
            raise problem

    # -- pages ---------------------------------------------------------------------------------------
    def record(self, batch_id: int, captured: CapturedImage, *, actor: str) -> Page:
        """Make the page durable, commit its row, and only then return the row.

        Raises CaptureRefused('disk_full') without touching the batch if the page would leave less than
        the floor; JournalError if the disk fails.
        """
        data = encode_original(captured.image, captured.dpi, self.image_format)  # outside the lock
        digest = sha256_bytes(data)
        self.largest_page = max(self.largest_page, len(data))
        free = self.free_bytes()
        if free - len(data) < self.floor:
            raise disk_full(free, len(data) + self.floor, self.data_dir)
        height, width = captured.image.shape[:2]
        folder = self.batch_dir(batch_id)
        with self._lock:
            seq = self.store.next_seq(batch_id)
            next_sheet = self.store.next_sheet(batch_id)
            # A back belongs to the sheet whose front came just before it; anything else starts a sheet.
            sheet = max(next_sheet - 1, 1) if captured.side == "back" else next_sheet
            path = folder / f"{seq:05d}-{captured.side}{FORMATS[self.image_format]}"
            try:
                if not folder.exists():
                    folder.mkdir(parents=True, exist_ok=True)
                    fsync_dir(folder.parent)
                if path.exists():  # left by a crash before its row committed: never reuse it
                    self._quarantine(path, reason="stray file at a new page's name")
                write_atomic(path, data)
            except OSError as exc:
                raise JournalError(str(exc)) from exc
            row = {
                "batch_id": batch_id, "seq": seq, "sheet": sheet, "side": captured.side,
                "source": captured.source or captured.settings.get("source", ""), "device": captured.device,
                "settings": captured.settings, "path": path.relative_to(self.data_dir).as_posix(),
                "sha256": digest, "width": width, "height": height, "dpi": float(captured.dpi),
                "captured_at": iso_vn(),
            }
            page_id = self.store.add_page(row, actor=actor)
        log.info("page %d of batch %d journalled: %s sha256=%s", seq, batch_id, row["path"], digest[:12])
        return self.store.page(page_id)

    def _quarantine(self, path: Path, *, reason: str) -> str:
        rel = path.relative_to(self.data_dir)
        stamp = now_vn().strftime("%Y%m%dT%H%M%S%f")
        target = self.quarantine_dir / rel.parent.relative_to("pages") / f"{stamp}-{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        move_atomic(path, target)
        log.warning("moved %s to %s: %s", rel, target.relative_to(self.data_dir), reason)
        self.store.audit("station", "page.quarantined", None, path=rel.as_posix(),
                         moved_to=target.relative_to(self.data_dir).as_posix(), reason=reason)
        return target.relative_to(self.data_dir).as_posix()

    def reconcile(self, *, verify_hashes: bool = True) -> ReconcileReport:
        """Start-up check of files against rows (see the module docstring)."""
        report = ReconcileReport()
        rows = self.store.query("SELECT id, batch_id, seq, path, sha256 FROM pages")
        known = {row["path"]: row for row in rows}
        with self._lock:
            if self.pages_dir.exists():
                for path in sorted(p for p in self.pages_dir.rglob("*") if p.is_file()):
                    rel = path.relative_to(self.data_dir).as_posix()
                    if rel not in known:
                        self._quarantine(path, reason="file without a journal row (never reported captured)")
                        report.quarantined.append(rel)
            for row in rows:
                report.checked += 1
                path = self.data_dir / row["path"]
                if not path.exists():
                    report.missing.append(row)
                elif verify_hashes and sha256_file(path) != row["sha256"]:
                    report.corrupt.append(row)
        for row in report.missing:
            log.error("page %s of batch %s: file %s is missing", row["seq"], row["batch_id"], row["path"])
        for row in report.corrupt:
            log.error("page %s of batch %s: file %s does not match its hash",
                      row["seq"], row["batch_id"], row["path"])
        return report
