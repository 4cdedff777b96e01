"""Which way up a page lies, without Tesseract for most pages (Tesseract OSD costs ~1–2 s a page).

0° vs 90°: the skew estimate already knows whether the text lines run across or down the page.
0° vs 180°: in Latin script, and far more in Vietnamese with its stacked diacritics (ồ, ế, ẫ), more ink
sits just above a line's x-height band (ascenders, capitals, diacritics) than just below it (g, p, q, y and
the dot below). Upside down, that asymmetry flips. When either test is not clear, OSD decides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from station.processing.steps import MM_PER_INCH, Skew, detect_orientation, ink_mask, rotate

log = logging.getLogger(__name__)

MIN_LINES = 3  # fewer x-height bands than this: not enough evidence for the up/down test
MIN_UPDOWN = 0.12  # |score| below this: ask OSD
MIN_LINE_RATIO = 1.25  # horizontal vs vertical profile peak; below this (tables, grids): ask OSD


@dataclass(frozen=True)
class Orientation:
    rotation: int  # clockwise quarter turn that makes the page upright
    confidence: float
    method: str  # "lines" (own method), "osd" (Tesseract), "none" (no text to judge by)


def updown_score(g: np.ndarray, *, dpi: float) -> tuple[float, int]:
    """(score, number of text lines) of a grey page whose text lines run horizontally: score > 0 when
    upright, < 0 when upside down, near 0 when unsure."""
    mm = dpi / MM_PER_INCH
    ink = ink_mask(g, delta=60, window=round(3 * mm) | 1)
    h, w = ink.shape
    ink = ink[h // 25 : h - h // 25, w // 25 : w - w // 25]
    # columns inked down most of the page (the edge of a scanner lid, a binding shadow, a ruled margin) would
    # put ink in every row and merge all lines into one: leave them out
    ink = ink[:, ink.mean(axis=0) < 0.5]
    p = ink.sum(axis=1).astype(np.float64)
    on = p > max(2.0, 0.004 * ink.shape[1])
    # each row's line: a run of rows with ink; the x-height band of a line is where its profile is at
    # least half the line's peak (two lines touching through diacritics keep two bands)
    local_max = np.zeros_like(p)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(np.int8), [0]])))
    for r0, r1 in zip(edges[::2], edges[1::2], strict=True):
        local_max[r0:r1] = p[r0:r1].max()
    core = on & (p >= 0.5 * local_max)
    cedges = np.flatnonzero(np.diff(np.concatenate([[0], core.astype(np.int8), [0]])))
    bands = [(int(a), int(b)) for a, b in zip(cedges[::2], cedges[1::2], strict=True) if b - a >= 0.7 * mm]
    if not bands:
        return 0.0, 0
    heights = np.array([b - a for a, b in bands])
    typical = float(np.median(heights))
    bands = [(a, b) for a, b in bands if b - a <= 2.5 * typical]  # not a photo, table or big heading
    above = below = 0.0
    for i, (a, b) in enumerate(bands):
        reach = 0.8 * (b - a)
        top_room = (a - bands[i - 1][1]) / 2 if i > 0 else reach
        bottom_room = (bands[i + 1][0] - b) / 2 if i + 1 < len(bands) else reach
        up = max(0, round(min(reach, top_room)))
        down = max(0, round(min(reach, bottom_room)))
        above += p[max(0, a - up) : a].sum()
        below += p[b : b + down].sum()
    total = above + below
    return (float((above - below) / total) if total else 0.0), len(bands)


def orient(g: np.ndarray, skew: Skew, *, dpi: float, use_osd: bool = True, osd_timeout: float = 30.0) -> Orientation:
    """The rotation that makes a straightened small grey page upright. `skew` is its estimate (which way
    the lines run). OSD (on this small copy) only when the own method is unsure."""
    if skew.angle is not None and skew.line_ratio >= MIN_LINE_RATIO:
        quarter = 90 if skew.vertical else 0
        score, lines = updown_score(rotate(g, quarter), dpi=dpi)
        if lines >= MIN_LINES and abs(score) >= MIN_UPDOWN:
            rotation = quarter if score > 0 else (quarter + 180) % 360
            return Orientation(rotation, round(abs(score) * np.sqrt(lines), 2), "lines")
        log.debug("up/down unsure (score %.3f over %d lines): asking OSD", score, lines)
    if not use_osd:
        return Orientation(0, 0.0, "none")
    rotation, confidence = detect_orientation(g, dpi=dpi, timeout=osd_timeout)
    return Orientation(rotation, confidence, "osd" if confidence > 0 else "none")
