"""The durable page journal: a page exists for the station only once its file is fsynced in its final
place and its row is committed. Nobody hears of a page before that.

On start-up `reconcile()` compares files and rows: a file without a row (the station died between the
rename and the commit, or mid-write) is moved to quarantine/ and reported, never used; a row whose file
is missing or altered is reported.
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from protocol.clock import iso_vn, now_vn
from protocol.durable import fsync_dir, move_atomic, write_atomic
from protocol.hashing import sha256_bytes, sha256_file
from station.capture.source import CapturedImage
from station.store import Store

log = logging.getLogger(__name__)

#: zlib level 1: about 0.25 s for an A4 300 dpi colour page on a 2-core machine; lossless all the same.
PNG_LEVEL = 1


class JournalError(Exception):
    """The page could not be made durable (disk full, read-only, ...); capture stops so nothing is lost."""

    code = "storage_error"

    def __init__(self, detail: str):
        self.message = f"Could not store the page: {detail}"
        self.message_vi = ("Không lưu được trang vừa quét (ổ đĩa đầy hoặc lỗi ổ đĩa). "
                           "Báo cho kỹ thuật viên; các trang đã lưu trước đó vẫn còn nguyên.")
        super().__init__(self.message)


@dataclass
class ReconcileReport:
    checked: int = 0
    quarantined: list[str] = field(default_factory=list)  # paths (relative to data_dir) now in quarantine
    missing: list[dict[str, Any]] = field(default_factory=list)  # rows whose file is gone
    corrupt: list[dict[str, Any]] = field(default_factory=list)  # rows whose file's hash differs

    @property
    def clean(self) -> bool:
        return not (self.quarantined or self.missing or self.corrupt)


def encode_png(captured: CapturedImage) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(captured.image, "RGB")
    image.save(buffer, "PNG", compress_level=PNG_LEVEL, dpi=(captured.dpi, captured.dpi))
    return buffer.getvalue()


class Journal:
    def __init__(self, store: Store, data_dir: Path):
        self.store = store
        self.data_dir = Path(data_dir)
        self.pages_dir = self.data_dir / "pages"
        self.quarantine_dir = self.data_dir / "quarantine"
        self._lock = threading.Lock()  # seq allocation + write + commit, one page at a time per journal
        self._uids: dict[int, str] = {}

    def batch_dir(self, batch_id: int) -> Path:
        if batch_id not in self._uids:
            self._uids[batch_id] = self.store.batch(batch_id)["uid"]
        return self.pages_dir / self._uids[batch_id]

    def record(self, batch_id: int, captured: CapturedImage, *, actor: str) -> dict[str, Any]:
        """Make the page durable, commit its row, and only then return the row."""
        data = encode_png(captured)  # outside the lock: two scanners encode in parallel
        digest = sha256_bytes(data)
        height, width = captured.image.shape[:2]
        folder = self.batch_dir(batch_id)
        with self._lock:
            seq = self.store.next_seq(batch_id)
            next_sheet = self.store.next_sheet(batch_id)
            # A back belongs to the sheet whose front came just before it; anything else starts a sheet.
            sheet = max(next_sheet - 1, 1) if captured.side == "back" else next_sheet
            path = folder / f"{seq:05d}-{captured.side}.png"
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
