"""A folder of page images (TIFF/PNG/JPEG) as a capture source: the same journal, the same rules.

Every file is checked before the first page is handed over, so a folder with one greyscale or
low-resolution file is refused whole instead of half imported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageSequence

from protocol.hashing import sha256_file
from protocol.i18n import N_
from station.capture.source import MIN_DPI, CapturedImage, CaptureRefused, ScanOutcome, ScanRequest

SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg"}
#: Colour modes we accept; the rules forbid reducing to greyscale, so grey files are refused, not converted.
COLOUR_MODES = {"RGB", "RGBA", "CMYK", "YCbCr"}


@dataclass
class _Frame:
    path: Path
    index: int  # frame within a multi-page TIFF
    mode: str
    dpi: float
    dpi_from: str


class ImportSource:
    def __init__(self, folder: str | Path, dpi: float | None = None):
        self.folder = Path(folder)
        self.dpi = float(dpi) if dpi else None
        self.id = f"import:{self.folder}"

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            raise CaptureRefused("bad_request", N_("%(folder)s is not a folder"), folder=self.folder)
        return sorted(p for p in self.folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)

    def plan(self) -> list[_Frame]:
        """Check every file (colour, dpi) and list the pages; refuses the whole folder on any problem."""
        frames: list[_Frame] = []
        problems: list[str] = []
        for path in self.files():
            try:
                with Image.open(path) as image:
                    file_dpi = _file_dpi(image)
                    for index, frame in enumerate(ImageSequence.Iterator(image)):
                        if frame.mode not in COLOUR_MODES:
                            problems.append(f"{path.name}: mode {frame.mode} is not colour")
                        dpi, source = (self.dpi, "option") if self.dpi else (file_dpi, "file")
                        if dpi is None:
                            problems.append(f"{path.name}: no resolution in the file and none given")
                        elif dpi < MIN_DPI:
                            problems.append(f"{path.name}: {dpi:g} dpi ({source}) is below {MIN_DPI} dpi")
                        frames.append(_Frame(path, index, frame.mode, dpi or 0.0, source))
            except (OSError, SyntaxError) as exc:
                problems.append(f"{path.name}: not a readable image ({exc})")
        if problems:
            code = "not_colour" if all("not colour" in p for p in problems) else "dpi_too_low"
            if any("not a readable" in p or "no resolution" in p for p in problems):
                code = "bad_file"
            raise CaptureRefused(
                code, N_("The image folder was not imported: some files break the rules (24-bit colour, at least "
                         "%(min_dpi)s dpi, resolution recorded). Files: %(files)s (%(problems)s)"),
                min_dpi=MIN_DPI, files=", ".join(sorted({p.split(':')[0] for p in problems})),
                problems="; ".join(problems))
        return frames

    def scan(self, request: ScanRequest, *, on_page: Callable[[CapturedImage], None],
             stop: threading.Event) -> ScanOutcome:
        if request.mode != "color":
            request.check()
        frames = self.plan()
        if not frames:
            return ScanOutcome(0, "empty")
        pages = 0
        hashes: dict[Path, str] = {}
        for sheet, frame in enumerate(frames, start=1):
            if stop.is_set():
                return ScanOutcome(pages, "stopped")
            if frame.path not in hashes:
                hashes[frame.path] = sha256_file(frame.path)
            with Image.open(frame.path) as image:
                image.seek(frame.index)
                rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
            settings: dict[str, Any] = {
                "source": "import", "file": frame.path.name, "frame": frame.index, "file_sha256": hashes[frame.path],
                "file_mode": frame.mode, "resolution": frame.dpi, "dpi_from": frame.dpi_from,
            }
            on_page(CapturedImage(image=rgb, dpi=frame.dpi, side="single", sheet=sheet, device=self.id,
                                  settings=settings, source="import"))
            pages += 1
        return ScanOutcome(pages, "done")


def _file_dpi(image: Image.Image) -> float | None:
    """The file's resolution, if it has a real one (the smaller axis: that is the one that limits)."""
    dpi = image.info.get("dpi")
    if not dpi:
        return None
    values = [float(v) for v in dpi]
    if min(values) <= 1:  # "no unit" pHYs / JFIF aspect-only: not a resolution
        return None
    return round(min(values), 1)  # PNG stores pixels per metre: 300 dpi reads back as 299.9994
