"""Thresholds for page processing and quality control, with defaults; overridable from a TOML file."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """The processing config file is wrong (unknown key, wrong type)."""


@dataclass(frozen=True)
class ProcessingConfig:
    # deskew
    max_skew_deg: float = 5.0  # search range of the skew estimate
    min_skew_deg: float = 0.05  # below this the page is not resampled (no visible gain)
    residual_skew_max_deg: float = 0.3  # after deskew; above: flag
    # border removal
    remove_borders: bool = True
    # orientation (see orientation.py): kept as scanned unless two signals agree (line rule, Tesseract OSD,
    # Tesseract word confidence read both ways); without Tesseract (osd_fallback off) only flagged
    detect_orientation: bool = True
    orientation_osd_fallback: bool = True
    osd_timeout_s: float = 30.0
    min_rotation_confidence: float = 2.0  # OSD orientation_conf at or above which OSD counts as a signal
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
    # pure white paper with ink this far below it is clean (a digital file, a well-lit scan), not overexposed:
    # overexposure also washes the ink out
    overexposed_max_contrast: float = 110.0  # thin print rendered at 200 dpi measures ~130
    max_clipped_black: float = 0.05
    min_contrast: float = 80.0  # median paper minus median ink, grey levels
    max_edge_content: float = 0.05  # share of an edge strip covered by ink
    # separator / cover sheets
    find_qr: bool = True
    # output: the derivative is an intermediate (OCR input, source of the PDF's JPEG q80); the original
    # capture stays lossless. JPEG q95 costs ~45 ms for an A4 300 dpi colour page, PNG level 1 ~600 ms.
    derivative_format: str = "jpeg"  # "jpeg" or "png"
    jpeg_quality: int = 95
    png_compression: int = 1  # 0..9; 1 is fast and still lossless


FRACTIONS = ("max_clipped_white", "max_clipped_black", "max_edge_content")
POSITIVE = ("max_skew_deg", "osd_timeout_s", "min_dpi", "blank_dust_mm2")
NOT_NEGATIVE = (
    "min_skew_deg",
    "residual_skew_max_deg",
    "min_rotation_confidence",
    "orientation_min_ink_mm2",
    "blank_max_ink_mm2",
    "min_sharpness",
    "min_contrast",
    "overexposed_max_contrast",
)


def processing_config(data: dict, source: str = "[processing]") -> ProcessingConfig:
    """A ProcessingConfig from a table of settings (a station.toml [processing] section, or a file of its
    own); unknown keys, wrong types and values out of range are one error naming every problem."""
    fields = {f.name: f for f in dataclasses.fields(ProcessingConfig)}
    problems = [f"unknown processing setting {key!r}" for key in sorted(set(data) - set(fields))]
    values = {}
    for key, value in data.items():
        if key not in fields:
            continue
        default = getattr(ProcessingConfig, key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        else:
            ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok:
            problems.append(f"{key} must be {type(default).__name__}, got {value!r}")
            continue
        values[key] = value
    for key in FRACTIONS:
        if key in values and not 0.0 <= values[key] <= 1.0:
            problems.append(f"{key} is a share of the page: between 0 and 1, got {values[key]}")
    for key in POSITIVE:
        if key in values and values[key] <= 0:
            problems.append(f"{key} must be above 0, got {values[key]}")
    for key in NOT_NEGATIVE:
        if key in values and values[key] < 0:
            problems.append(f"{key} must not be negative, got {values[key]}")
    if not 0 <= values.get("blank_ink_delta", 60) <= 255:
        problems.append(f"blank_ink_delta is in grey levels: 0..255, got {values['blank_ink_delta']}")
    if values.get("derivative_format", "jpeg") not in ("jpeg", "png"):
        problems.append('derivative_format must be "jpeg" or "png"')
    if not 1 <= values.get("jpeg_quality", 95) <= 100:
        problems.append(f"jpeg_quality must be 1..100, got {values['jpeg_quality']}")
    if not 0 <= values.get("png_compression", 1) <= 9:
        problems.append(f"png_compression must be 0..9, got {values['png_compression']}")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return ProcessingConfig(**values)


def load_config(path: str | Path) -> ProcessingConfig:
    """Read a TOML file of thresholds (top level or a [processing] table); see `processing_config`."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    if set(data) == {"processing"} and isinstance(data["processing"], dict):
        data = data["processing"]
    return processing_config(data, str(path))
