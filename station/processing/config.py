"""Thresholds for page processing and quality control, with defaults; overridable from a TOML file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from protocol.config import ConfigError, load

__all__ = ["ConfigError", "ProcessingConfig", "load_config"]


@dataclass(frozen=True)
class ProcessingConfig:
    # deskew
    max_skew_deg: float = 5.0  # search range of the skew estimate
    min_skew_deg: float = 0.05  # below this the page is not resampled (no visible gain)
    residual_skew_max_deg: float = 0.3  # after deskew; above: flag
    # border removal
    remove_borders: bool = True
    # orientation: own method (line direction + up/down asymmetry), Tesseract OSD when that is unsure
    detect_orientation: bool = True
    orientation_osd_fallback: bool = True
    osd_timeout_s: float = 30.0
    min_rotation_confidence: float = 1.5  # OSD orientation_conf below this: do not rotate, flag
    # less ink than this (weighted mm², as the blank score) is a line or two: too few letters to tell up from
    # down, and OSD refuses pages under 50 characters anyway (a 12 pt letter is about 1.5–2 mm² of ink)
    orientation_min_ink_mm2: float = 60.0
    # blank pages
    # grey levels darker than the local paper to count as ink (bleed-through is fainter)
    blank_ink_delta: int = 60
    blank_max_ink_mm2: float = 0.5  # weighted ink area (mm²) at or below which a page is blank (a lone "2" ≈ 1.7)
    blank_dust_mm2: float = 0.12  # specks smaller than this are dust
    # quality thresholds
    min_dpi: float = 200.0  # NĐ30 minimum for administrative documents
    min_sharpness: float = 3000.0  # mean squared Laplacian around text at 150 dpi (σ 0.15 mm blur ≈ 2000)
    max_clipped_white: float = 0.6
    max_clipped_black: float = 0.05
    min_contrast: float = 80.0  # median paper minus median ink, grey levels
    max_edge_content: float = 0.05  # share of an edge strip covered by ink
    # separator / cover sheets
    find_qr: bool = True
    # output: the derivative is an intermediate (OCR input, source of the PDF's JPEG q80); the original
    # capture stays lossless. JPEG q95 costs ~45 ms for an A4 300 dpi colour page, PNG level 1 ~600 ms.
    derivative_format: str = field(default="jpeg", metadata={"choices": ("jpeg", "png")})
    jpeg_quality: int = field(default=95, metadata={"range": (1, 100)})
    png_compression: int = field(default=1, metadata={"range": (0, 9)})  # 1 is fast and still lossless


def load_config(path: str | Path) -> ProcessingConfig:
    """Read a TOML file of thresholds (top level or a [processing] table); unknown keys, wrong types and
    values out of range are errors (protocol.config, the one loader)."""
    return load(path, ProcessingConfig, section="processing")
