"""Which way up a page lies. Keeping the page as scanned is the default: a turn needs two independent
signals that agree, and every signal's score is recorded.

Signal 1, "lines" (no Tesseract, ~10 ms): the skew estimate already knows whether the text lines run across
or down the page; for up/down, in Latin script, and far more in Vietnamese with its stacked diacritics
(ồ, ế, ẫ), more ink sits just above a line's x-height band (ascenders, capitals, diacritics) than just below
it (g, p, q, y and the dot below). Upside down, that asymmetry flips.
Signal 2, "osd": Tesseract's orientation detection.
Signal 3, "words": Tesseract reads the densest strip of the page both ways; real words come out with high
confidence only the right way up. It breaks a tie when the first two do not agree.

A page the line rule finds upright costs nothing more. Only a candidate (the rule proposes a turn, or cannot
tell) asks OSD: first a quick look (the middle of the page, fewer characters), then the whole page unless it
clearly said what the line rule says; only a disagreement asks for the strip to be read (about 1 s).
Pictures, photographs and pages of a line or two have no agreeing pair and are left as scanned.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from station.processing.steps import MM_PER_INCH, Skew, detect_orientation, ink_mask, rotate

log = logging.getLogger(__name__)

MIN_LINES = 3  # fewer x-height bands than this: not enough evidence for the up/down test
MIN_UPDOWN = 0.12  # |score| below this: ask OSD
MIN_LINE_RATIO = 1.25  # horizontal vs vertical profile peak; below this (tables, grids): ask OSD
MIN_OSD_CONFIDENCE = 2.0  # OSD orientation_conf at or above which OSD counts as a signal
MIN_WORDS_GAIN = 15.0  # mean word confidence the proposed turn must gain over the other readings
MIN_WORDS_CONFIDENCE = 45.0  # and reach itself (garbage read from a picture stays far below)
MIN_LEAN = 0.05  # |score| from which the line rule's up/down leaning counts when OSD says the same, clearly
QUICK_OSD_CHARACTERS = 20  # the quick OSD look, on the middle quarter: up to 100 blobs, ~0.45 s of CPU, not ~1.35 s
SURE_LINES = 10  # a line rule verdict "upright" over at least this many lines is taken without Tesseract


@dataclass(frozen=True)
class Orientation:
    rotation: int  # clockwise quarter turn that makes the page upright (0: kept as scanned)
    confidence: float
    method: str  # the signals that agreed: "lines", "lines+osd", "lines+words", "osd+words", "qr"; "none"
    evidence: dict[str, Any] = field(default_factory=dict)  # each signal asked: its answer and score
    uncertain: int = 0  # a turn some signal proposed but nothing confirmed (kept as scanned, flagged)


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
    # ruled lines, underlines and table borders are not glyphs: under a line of text they look like descender
    # ink and would call an upright form upside down. Runs of ink longer than 8 mm go.
    ink8 = ink.view(np.uint8) if ink.dtype == np.bool_ else ink.astype(np.uint8)
    rules = cv2.morphologyEx(ink8, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (round(8 * mm), 1)))
    if cv2.countNonZero(rules):
        ink = ink & (cv2.dilate(rules, np.ones((3, 3), np.uint8)) == 0)
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


def _strip(g: np.ndarray, *, dpi: float) -> np.ndarray:
    """The densest horizontal band of text (about a fifth of the page, at least 25 mm), whole width."""
    mm = dpi / MM_PER_INCH
    ink = ink_mask(g, delta=60, window=round(3 * mm) | 1)
    rows = ink.sum(axis=1).astype(np.float64)
    band = min(g.shape[0], max(round(25 * mm), g.shape[0] // 5))
    sums = np.convolve(rows, np.ones(band), mode="valid")
    top = int(sums.argmax()) if sums.size else 0
    return g[top : top + band]


def word_confidence(g: np.ndarray, *, dpi: float, lang: str = "vie", timeout: float = 30.0) -> float:
    """Mean Tesseract confidence of the words read in `g` (0–100), weighted by their length; 0 without words.
    Upscaled to about 300 dpi, where Tesseract reads best."""
    import pytesseract
    from PIL import Image

    os.environ["OMP_THREAD_LIMIT"] = "1"
    if dpi < 250:
        g = cv2.resize(g, None, fx=300 / dpi, fy=300 / dpi, interpolation=cv2.INTER_CUBIC)
        dpi = 300.0
    try:
        data = pytesseract.image_to_data(
            Image.fromarray(g),
            lang=lang,
            config=f"--psm 6 --dpi {round(dpi)}",
            output_type=pytesseract.Output.DICT,
            timeout=timeout,
        )
    except (pytesseract.TesseractError, RuntimeError) as exc:
        log.warning("reading a strip for orientation failed: %s", exc)
        return 0.0
    total = weight = 0.0
    for text, conf in zip(data["text"], data["conf"], strict=True):
        word = "".join(ch for ch in str(text) if ch.isalnum())
        if len(word) >= 2 and float(conf) >= 0:
            total += float(conf) * len(word)
            weight += len(word)
    return round(total / weight, 1) if weight else 0.0


def _words_vote(g: np.ndarray, *, dpi: float, evidence: dict, timeout: float) -> int | None:
    """Signal 3: the turn whose reading of the densest strip is clearly the most confident, else None."""
    scores = {
        turn: word_confidence(_strip(rotate(g, turn), dpi=dpi), dpi=dpi, timeout=timeout) for turn in (0, 90, 180, 270)
    }
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)
    best, second = ranked[0], ranked[1]
    clear = scores[best] >= MIN_WORDS_CONFIDENCE and scores[best] - scores[second] >= MIN_WORDS_GAIN
    vote = best if clear else None
    evidence["words"] = {"confidence_by_turn": {str(t): v for t, v in scores.items()}, "rotation": vote}
    return vote


def orient(
    g: np.ndarray,
    skew: Skew,
    *,
    dpi: float,
    use_osd: bool = True,
    osd_timeout: float = 30.0,
    min_osd_confidence: float = MIN_OSD_CONFIDENCE,
) -> Orientation:
    """The rotation that makes a straightened small grey page upright, kept at 0 unless two signals agree.
    `skew` is its estimate (which way the lines run)."""
    evidence: dict[str, Any] = {}
    lines_turn: int | None = None
    lines_lean: int | None = None  # the line rule's answer below its own bar: only counts with a clear OSD
    lines = 0
    lines_conf = 0.0
    if skew.angle is not None and skew.line_ratio >= MIN_LINE_RATIO:
        quarter = 90 if skew.vertical else 0
        score, lines = updown_score(rotate(g, quarter), dpi=dpi)
        evidence["lines"] = {"direction": quarter, "updown": round(score, 3), "lines": lines}
        if lines >= MIN_LINES and abs(score) >= MIN_LEAN:
            lines_lean = quarter if score > 0 else (quarter + 180) % 360
            evidence["lines"]["lean"] = lines_lean
        if lines >= MIN_LINES and abs(score) >= MIN_UPDOWN:
            lines_turn = quarter if score > 0 else (quarter + 180) % 360
            lines_conf = round(abs(score) * np.sqrt(lines), 2)
            evidence["lines"]["rotation"] = lines_turn
    if lines_turn == 0 and lines >= SURE_LINES:  # upright by the line rule on a full page: no Tesseract
        return Orientation(0, lines_conf, "lines", evidence)
    if not use_osd:
        if lines_turn == 0:
            return Orientation(0, lines_conf, "lines", evidence)
        return Orientation(0, 0.0, "none", evidence, uncertain=lines_turn or 0)
    # OSD's cost is the characters it classifies and the page area it lays out: a quick look first (the middle
    # quarter of the page, fewer characters), the whole page only when the quick answer does not clearly
    # confirm what the line rule proposes (a confirmation still needs OSD's own clear answer)
    proposal = lines_turn if lines_turn is not None else lines_lean
    osd_turn, osd_conf, look = -1, 0.0, "quick"
    if proposal is not None:
        h, w = g.shape
        centre = g[h // 4 : h - h // 4, w // 4 : w - w // 4]
        osd_turn, osd_conf = detect_orientation(
            centre, dpi=dpi, timeout=osd_timeout, min_characters=QUICK_OSD_CHARACTERS
        )
    if osd_turn != proposal or osd_conf < min_osd_confidence:
        osd_turn, osd_conf = detect_orientation(g, dpi=dpi, timeout=osd_timeout)
        look = "full"
    evidence["osd"] = {"rotation": osd_turn, "confidence": round(osd_conf, 2), "look": look}
    osd_vote = osd_turn if osd_conf >= min_osd_confidence else None
    if lines_turn is None and osd_vote and lines_lean == osd_vote:  # the line rule leans the same way
        return Orientation(osd_vote, round(osd_conf, 2), "lines+osd", evidence)
    if lines_turn is not None and osd_vote == lines_turn:
        method = "lines" if lines_turn == 0 else "lines+osd"
        return Orientation(lines_turn, round(min(lines_conf, osd_conf), 2), method, evidence)
    proposals = {t for t in (lines_turn, osd_vote) if t}
    if not proposals:  # nobody proposes a turn (upright, or nothing to judge by)
        if lines_turn == 0:
            return Orientation(0, lines_conf, "lines", evidence)
        if osd_vote == 0:
            return Orientation(0, round(osd_conf, 2), "osd", evidence)
        return Orientation(0, 0.0, "none", evidence)
    words = _words_vote(g, dpi=dpi, evidence=evidence, timeout=osd_timeout)
    if words == 0 and 0 in (lines_turn, osd_vote):  # upright after all, by two signals
        return Orientation(0, lines_conf, "lines+words" if lines_turn == 0 else "osd+words", evidence)
    if words:
        if words == lines_turn:
            return Orientation(words, lines_conf, "lines+words", evidence)
        if words == osd_vote:
            return Orientation(words, round(osd_conf, 2), "osd+words", evidence)
    doubt = next(iter(sorted(proposals)))
    log.debug("orientation: %s proposed, not confirmed: kept as scanned (%s)", sorted(proposals), evidence)
    return Orientation(0, 0.0, "none", evidence, uncertain=doubt)


def summary(method: str, evidence: dict[str, Any]) -> str:
    """One line for the PREMIS event: which signals decided, and what each said with its score."""
    parts = []
    lines = evidence.get("lines")
    if lines:
        parts.append(f"lines {lines.get('rotation', '?')} (updown {lines['updown']}, {lines['lines']} lines)")
    osd = evidence.get("osd")
    if osd:
        parts.append(f"osd {osd['rotation']} (conf {osd['confidence']})")
    words = evidence.get("words")
    if words:
        scores = "/".join(f"{v:.0f}" for v in words["confidence_by_turn"].values())
        parts.append(f"words {words['rotation'] if words['rotation'] is not None else '?'} (0/90/180/270 {scores})")
    return f"{method}: {'; '.join(parts)}" if parts else method
