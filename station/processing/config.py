"""Thresholds for page processing and quality control, with defaults; overridable from a TOML file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from protocol.config import ConfigError, load

__all__ = ["ConfigError", "ProcessingConfig", "load_config"]


@dataclass(frozen=True)
class ProcessingConfig:
    #: settings of earlier releases, refused with the reason (protocol.config)
    RETIRED: ClassVar[dict[str, str]] = {
        "jpeg_quality": "the derivative is now the PDF's image layer, a JPEG of fixed quality "
                        "(station.processing.pipeline.JPEG_QUALITY)",
    }

    # deskew
    max_skew_deg: float = field(default=5.0, metadata={"range": (0.1, 45)})  # search range of the skew estimate
    # below this the page is not resampled (no visible gain)
    min_skew_deg: float = field(default=0.05, metadata={"range": (0, 45)})
    residual_skew_max_deg: float = field(default=0.3, metadata={"range": (0, 45)})  # after deskew; above: flag
    # border removal
    remove_borders: bool = True
    # orientation (see orientation.py): kept as scanned unless two signals agree (line rule, Tesseract OSD,
    # Tesseract word confidence read both ways); without Tesseract (osd_fallback off) only flagged
    detect_orientation: bool = True
    orientation_osd_fallback: bool = True
    osd_timeout_s: float = field(default=30.0, metadata={"range": (0.1, 600)})
    # OSD orientation_conf at or above which OSD counts as a signal
    min_rotation_confidence: float = field(default=2.0, metadata={"range": (0, None)})
    # less ink than this (weighted mm², as the blank score) is a line or two: too few letters to tell up from
    # down, and OSD refuses pages under 50 characters anyway (a 12 pt letter is about 1.5–2 mm² of ink)
    orientation_min_ink_mm2: float = field(default=60.0, metadata={"range": (0, None)})
    # blank pages
    # grey levels darker than the local paper to count as ink (bleed-through is fainter)
    blank_ink_delta: int = field(default=60, metadata={"range": (0, 255)})
    # weighted ink area (mm²) at or below which a page is blank (a lone "2" ≈ 1.7)
    blank_max_ink_mm2: float = field(default=0.5, metadata={"range": (0, None)})
    blank_dust_mm2: float = field(default=0.12, metadata={"range": (0.001, None)})  # specks smaller than this are dust
    # quality thresholds
    min_dpi: float = field(default=200.0, metadata={"range": (1, 4800)})  # NĐ30 minimum for administrative documents
    # mean squared Laplacian around text at 150 dpi (σ 0.15 mm blur ≈ 2000)
    min_sharpness: float = field(default=3000.0, metadata={"range": (0, None)})
    max_clipped_white: float = field(default=0.6, metadata={"range": (0, 1)})
    # pure white paper whose darkest ink (10th percentile, "ink_depth") is this far below it is clean (a digital
    # file, a well-lit scan), not overexposed: overexposure greys every stroke. The median ink level alone read a
    # clean chart of coloured lines (107) as washed out; its black labels go to ~250 below the paper
    overexposed_max_contrast: float = field(default=110.0, metadata={"range": (0, 255)})
    max_clipped_black: float = field(default=0.05, metadata={"range": (0, 1)})
    # median paper minus median ink, grey levels
    min_contrast: float = field(default=80.0, metadata={"range": (0, 255)})
    max_edge_content: float = field(default=0.05, metadata={"range": (0, 1)})  # share of an edge strip covered by ink
    # separator / cover sheets
    find_qr: bool = True
    # output: the derivative is the PDF's image layer (colour JPEG, pipeline.JPEG_QUALITY): review shows it,
    # Tesseract reads its luma, finishing embeds its bytes unchanged; the original capture stays lossless.
    # JPEG costs ~40 ms for an A4 300 dpi colour page, PNG level 1 ~600 ms (then finishing encodes the layer).
    derivative_format: str = field(default="jpeg", metadata={"choices": ("jpeg", "png")})
    png_compression: int = field(default=1, metadata={"range": (0, 9)})  # 1 is fast and still lossless


def load_config(path: str | Path) -> ProcessingConfig:
    """Read a TOML file of thresholds (top level or a [processing] table); unknown keys, wrong types and
    values out of range are errors (protocol.config, the one loader)."""
    return load(path, ProcessingConfig, section="processing")
