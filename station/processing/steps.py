"""Image steps on one page: numpy RGB uint8 arrays in, new arrays out. Each step stands alone.

Estimates run on a downscaled grey copy (fast); corrections are applied to the full-size image.
Angles are in degrees, counter-clockwise positive (as the page lies on the glass); rotations are
clockwise quarter turns.
"""

from __future__ import annotations

import logging
import math
import os

import cv2
import numpy as np

log = logging.getLogger(__name__)

MM_PER_INCH = 25.4


# -- helpers ---------------------------------------------------------------------------------------

def gray(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def _shrink(g: np.ndarray, factor: float) -> np.ndarray:
    """Downscale by about `factor`, snapped to an integer step (INTER_AREA is much faster then)."""
    if factor >= 1.0:
        return g
    step = max(1, round(1 / factor))
    if step == 1:
        return g
    size = (max(1, g.shape[1] // step), max(1, g.shape[0] // step))
    return cv2.resize(g, size, interpolation=cv2.INTER_AREA)


def ink_mask(g: np.ndarray, *, delta: int, window: int) -> np.ndarray:
    """Pixels darker than their local paper by `delta`. The paper level is a max filter wider than a
    stroke, so yellowed paper, uneven light and large dark areas (scanner lid) are not ink."""
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    background = cv2.dilate(g, k)
    return cv2.subtract(background, g) > delta


# -- deskew ----------------------------------------------------------------------------------------

def _profile_score(ys: np.ndarray, xs: np.ndarray, angle: float, vertical: bool) -> float:
    t = math.tan(math.radians(angle))
    proj = (xs - ys * t) if vertical else (ys + xs * t)
    proj = np.rint(proj - proj.min()).astype(np.int64)
    hist = np.bincount(proj).astype(np.float64)
    return float(np.dot(hist, hist))


def estimate_skew(img: np.ndarray, *, max_angle: float = 5.0,
                  max_side: int = 1600) -> tuple[float | None, float]:
    """(skew angle, confidence) from the projection profile of text pixels; (None, c) when unreliable.

    Text lines give a sharply peaked profile only at the right angle; both horizontal and vertical
    lines are tried so a page lying at 90° still gets its fine skew.
    """
    g = gray(img)
    g = _shrink(g, max_side / max(g.shape))
    h, w = g.shape
    ink = ink_mask(g, delta=40, window=9)
    # ignore the outer 4%: paper edges, lid shadows and holes are not text lines
    my, mx = h // 25, w // 25
    ink[:my], ink[-my:], ink[:, :mx], ink[:, -mx:] = False, False, False, False
    ys, xs = np.nonzero(ink)
    if ys.size < 400:
        return None, 0.0
    ys, xs = ys.astype(np.float64), xs.astype(np.float64)
    rng = np.random.default_rng(0)
    if ys.size > 25_000:
        pick = rng.choice(ys.size, 25_000, replace=False)
        cys, cxs = ys[pick], xs[pick]
    else:
        cys, cxs = ys, xs
    coarse = np.arange(-max_angle, max_angle + 1e-9, 0.25)
    best: tuple[float, float, bool] | None = None
    confidence = 0.0
    for vertical in (False, True):
        scores = np.array([_profile_score(cys, cxs, a, vertical) for a in coarse])
        top = int(scores.argmax())
        conf = float(scores[top] / np.median(scores))
        if best is None or scores[top] > best[0]:
            best = (float(scores[top]), float(coarse[top]), vertical)
            confidence = conf
    assert best is not None
    _, angle0, vertical = best
    if confidence < 1.3:  # flat profile: no text lines (blank, photo, handwriting)
        return None, confidence
    if ys.size > 200_000:
        pick = rng.choice(ys.size, 200_000, replace=False)
        ys, xs = ys[pick], xs[pick]
    fine = np.arange(angle0 - 0.3, angle0 + 0.3 + 1e-9, 0.02)
    scores = np.array([_profile_score(ys, xs, a, vertical) for a in fine])
    i = int(scores.argmax())
    angle = float(fine[i])
    if 0 < i < len(fine) - 1:  # parabolic peak interpolation
        a, b, c = scores[i - 1], scores[i], scores[i + 1]
        denom = a - 2 * b + c
        if denom < 0:
            angle += 0.02 * 0.5 * (a - c) / denom
    return float(angle), float(confidence)


def _edge_colour(img: np.ndarray) -> tuple[int, ...]:
    """The median colour of the image's outer frame: what the page looks like beyond its edges."""
    frame = np.concatenate([img[:2].reshape(-1, img.shape[-1] if img.ndim == 3 else 1),
                            img[-2:].reshape(-1, img.shape[-1] if img.ndim == 3 else 1),
                            img[:, :2].reshape(-1, img.shape[-1] if img.ndim == 3 else 1),
                            img[:, -2:].reshape(-1, img.shape[-1] if img.ndim == 3 else 1)])
    return tuple(int(v) for v in np.median(frame, axis=0))


def rotate_by(img: np.ndarray, angle: float) -> np.ndarray:
    """Rotate by `angle` degrees counter-clockwise onto a canvas large enough that no pixel is lost."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = math.ceil(h * sin + w * cos), math.ceil(h * cos + w * sin)
    m[0, 2] += (nw - w) / 2
    m[1, 2] += (nh - h) / 2
    return cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=_edge_colour(img))


def deskew(img: np.ndarray, *, max_angle: float = 5.0, min_angle: float = 0.05) -> tuple[np.ndarray, float]:
    """Straighten the page. Returns (image, detected skew in degrees, counter-clockwise positive).
    Without a reliable estimate, or below `min_angle`, the image is returned unchanged (angle 0 if none)."""
    angle, _ = estimate_skew(img, max_angle=max_angle)
    if angle is None:
        return img, 0.0
    if abs(angle) < min_angle:
        return img, angle
    return rotate_by(img, -angle), angle


# -- borders ---------------------------------------------------------------------------------------

def _dark_run(rows: np.ndarray, thr: float) -> int:
    """How many leading rows are mostly (≥ 60%) darker than `thr`."""
    dark = (rows <= thr).mean(axis=1) >= 0.6
    return int(np.argmin(dark)) if not dark.all() else len(dark)


def remove_borders(img: np.ndarray, *, max_side: int = 800) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Crop away the dark scanner background and lid shadow around the paper.

    Returns (image, (x, y, w, h) kept in the input's pixels). The kept box is the bounding box of the
    whole bright paper region plus a safety margin, and a side is only cut where everything removed
    is dark background, so content on the paper is never cut.
    """
    h, w = img.shape[:2]
    full = (0, 0, w, h)
    g = gray(img)
    s = _shrink(g, max_side / max(h, w))
    sh, sw = s.shape
    scale = sw / w
    otsu, _ = cv2.threshold(s, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    thr = min(float(otsu), 150.0)
    bright = (s > thr).astype(np.uint8)
    if bright.mean() > 0.995 or bright.mean() < 0.3:
        return img, full  # nothing dark around, or no paper we can trust
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    closed = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, k)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    if n < 2:
        return img, full
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x0, y0, bw, bh = (int(v) for v in stats[biggest, :4])
    if bw * bh < 0.3 * sw * sh:
        return img, full
    x1, y1 = x0 + bw, y0 + bh
    dark = s <= thr
    # a strip outside the paper's bounding box is all lid; anything light in it may be content: keep it
    if x0 > 0 and dark[:, :x0].mean() < 0.98:
        x0 = 0
    if y0 > 0 and dark[:y0].mean() < 0.98:
        y0 = 0
    if x1 < sw and dark[:, x1:].mean() < 0.98:
        x1 = sw
    if y1 < sh and dark[y1:].mean() < 0.98:
        y1 = sh
    # back to full size with one small pixel of margin outwards
    fx0 = max(0, math.floor((x0 - 1) / scale))
    fy0 = max(0, math.floor((y0 - 1) / scale))
    fx1 = min(w, math.ceil((x1 + 1) / scale))
    fy1 = min(h, math.ceil((y1 + 1) / scale))
    # refine at full size: drop the few outer rows/columns of the margin that are still mostly dark
    limit = math.ceil(2 / scale) + 2
    if y0 > 0:
        fy0 += _dark_run(g[fy0:fy0 + limit, fx0:fx1], thr)
    if y1 < sh:
        fy1 -= _dark_run(g[max(fy0, fy1 - limit):fy1, fx0:fx1][::-1], thr)
    if x0 > 0:
        fx0 += _dark_run(g[fy0:fy1, fx0:fx0 + limit].T, thr)
    if x1 < sw:
        fx1 -= _dark_run(g[fy0:fy1, max(fx0, fx1 - limit):fx1].T[::-1], thr)
    if (fx0, fy0, fx1, fy1) == (0, 0, w, h):
        return img, full
    return img[fy0:fy1, fx0:fx1].copy(), (fx0, fy0, fx1 - fx0, fy1 - fy0)


# -- orientation -----------------------------------------------------------------------------------

def detect_orientation(img: np.ndarray, *, dpi: float, timeout: float = 30.0) -> tuple[int, float]:
    """(clockwise rotation that makes the page upright: 0|90|180|270, confidence) by Tesseract OSD.
    A page without enough text gives (0, 0.0)."""
    import pytesseract
    from PIL import Image

    os.environ["OMP_THREAD_LIMIT"] = "1"  # one core per Tesseract; we parallelise with processes
    g = gray(img)
    use_dpi = dpi
    if dpi > 200:  # OSD is as right at 150–200 dpi as at 300 (measured) and faster
        small = _shrink(g, 200 / dpi)
        use_dpi = dpi * small.shape[1] / g.shape[1]
        g = small
    try:
        osd = pytesseract.image_to_osd(Image.fromarray(g), config=f"--psm 0 --dpi {round(use_dpi)}",
                                       output_type=pytesseract.Output.DICT, timeout=timeout)
    except pytesseract.TesseractNotFoundError:
        raise
    except pytesseract.TesseractError as exc:  # "Too few characters": no text to judge by
        log.debug("OSD gave no answer: %s", str(exc).strip()[:200])
        return 0, 0.0
    except RuntimeError as exc:  # pytesseract's timeout
        log.warning("OSD failed: %s", exc)
        return 0, 0.0
    rotation = int(osd.get("rotate", 0)) % 360
    return rotation, float(osd.get("orientation_conf", 0.0))


def rotate(img: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate clockwise by 0, 90, 180 or 270 degrees (lossless)."""
    codes = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    rotation %= 360
    if rotation == 0:
        return img
    if rotation not in codes:
        raise ValueError(f"rotation must be a multiple of 90, got {rotation}")
    return cv2.rotate(img, codes[rotation])


# -- blank pages -----------------------------------------------------------------------------------

def _centre_weight(cx: np.ndarray, cy: np.ndarray, w: int, h: int) -> np.ndarray:
    """1 in the middle 70% of each axis, falling to 0.3 at the edges: content lives in the centre,
    holes, staples and edge shadows near the edges."""
    def axis(v: np.ndarray, n: int) -> np.ndarray:
        d = np.minimum(v, n - 1 - v) / n  # 0 at the edge, 0.5 in the middle
        return np.clip(0.3 + 0.7 * d / 0.15, 0.3, 1.0)
    return axis(cx, w) * axis(cy, h)


def blank_score(img: np.ndarray, *, dpi: float = 300.0, ink_delta: int = 60, dust_mm2: float = 0.12) -> float:
    """Weighted ink area in mm²: components darker than the local paper by `ink_delta`, minus dust,
    punch holes, staples and edge artefacts, each weighted by where it lies (centre counts most).
    Faint bleed-through and yellowed paper do not count as ink."""
    g = gray(img)
    s = _shrink(g, 150.0 / dpi)
    h, w = s.shape
    mm = dpi * (w / g.shape[1]) / MM_PER_INCH  # pixels per mm
    # a window wider than a punch hole, so a hole is one solid blob and not a ring
    ink = ink_mask(s, delta=ink_delta, window=round(9 * mm) | 1)
    edge = max(1, round(3 * mm))  # outermost 3 mm: scanner edge and paper edge shadows
    ink[:edge], ink[-edge:], ink[:, :edge], ink[:, -edge:] = False, False, False, False
    n, _, stats, centroids = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    if n < 2:
        return 0.0
    stats, centroids = stats[1:], centroids[1:]
    area = stats[:, cv2.CC_STAT_AREA] / (mm * mm)
    bw, bh = stats[:, cv2.CC_STAT_WIDTH] / mm, stats[:, cv2.CC_STAT_HEIGHT] / mm
    cx, cy = centroids[:, 0], centroids[:, 1]
    to_edge = np.minimum.reduce([cx, w - 1 - cx, cy, h - 1 - cy]) / mm
    corner = (np.minimum(cx, w - 1 - cx) / mm < 35) & (np.minimum(cy, h - 1 - cy) / mm < 35)
    fill = area / np.maximum(bw * bh, 1e-6)
    long_side, short_side = np.maximum(bw, bh), np.minimum(bw, bh)
    dust = area < dust_mm2
    roundish = short_side / np.maximum(long_side, 1e-6) > 0.75
    hole = (to_edge < 25) & (long_side > 3.5) & (long_side < 10) & roundish & (fill > 0.6)
    staple = corner & (long_side > 4) & (long_side < 25) & ((short_side < 1.5) | (fill < 0.3))
    keep = ~(dust | hole | staple)
    if not keep.any():
        return 0.0
    weight = _centre_weight(cx[keep] * 1.0, cy[keep] * 1.0, w, h)
    return float(np.sum(area[keep] * weight))


def is_blank(score: float, config: object) -> bool:
    """A page is blank when its weighted ink area is at or below `config.blank_max_ink_mm2`."""
    return score <= float(getattr(config, "blank_max_ink_mm2"))  # noqa: B009 - any config-like object


# -- quality ---------------------------------------------------------------------------------------

def quality_metrics(img: np.ndarray, *, dpi: float) -> dict:
    """Numbers an operator or a rule can judge a page by; see ProcessingConfig for the thresholds."""
    h, w = img.shape[:2]
    g = gray(img)
    # the global number asked for by the spec, at capture resolution
    _, std = cv2.meanStdDev(cv2.Laplacian(g, cv2.CV_32F))
    sharpness = float(std[0, 0]) ** 2
    # the rest on an exact 150 dpi copy, so thresholds mean the same for any capture resolution
    factor = min(1.0, 150.0 / dpi)
    s = cv2.resize(g, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    mm = dpi * factor / MM_PER_INCH
    ink = ink_mask(s, delta=60, window=round(3 * mm) | 1)
    # sharpness over text only (blank paper would otherwise read as blurry)
    lap = cv2.Laplacian(s, cv2.CV_32F)
    near_ink = cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    sharpness_text = float(np.mean(lap[near_ink] ** 2)) if near_ink.sum() > 200 else None
    # ink in a strip 1–3 mm from each edge (the outermost mm is the paper's own edge line)
    a, b = max(1, round(1 * mm)), max(2, round(3 * mm))
    edges = {"top": ink[a:b].any(axis=0).mean(), "bottom": ink[-b:-a].any(axis=0).mean(),
             "left": ink[:, a:b].any(axis=1).mean(), "right": ink[:, -b:-a].any(axis=1).mean()}
    # contrast of ink against paper: the typical paper level minus the typical ink level
    paper_level = float(np.median(s))
    contrast = paper_level - float(np.median(s[ink])) if ink.sum() > 50 else None
    full_hist = cv2.calcHist([g], [0], None, [256], [0, 256]).ravel() / g.size
    residual, _ = estimate_skew(img, max_angle=2.0)
    if img.ndim == 3:
        small = cv2.resize(img, (s.shape[1], s.shape[0]), interpolation=cv2.INTER_AREA).astype(np.int16)
        chroma = float(np.abs(small - small.mean(axis=2, keepdims=True)).mean())
        channels = 3
    else:
        chroma, channels = 0.0, 1
    return {
        "width_px": w,
        "height_px": h,
        "dpi": float(dpi),
        "width_mm": round(w / dpi * MM_PER_INCH, 1),
        "height_mm": round(h / dpi * MM_PER_INCH, 1),
        "effective_dpi": float(dpi),
        "residual_skew_deg": None if residual is None else round(residual, 3),
        "sharpness": round(sharpness, 1),
        "sharpness_text": None if sharpness_text is None else round(sharpness_text, 1),
        "clipped_black": round(float(full_hist[:3].sum()), 5),
        "clipped_white": round(float(full_hist[253:].sum()), 5),
        "contrast": None if contrast is None else round(contrast, 1),
        "paper_level": round(paper_level, 1),
        "edge_content": {k: round(float(v), 4) for k, v in edges.items()},
        "channels": channels,
        "bit_depth": int(img.dtype.itemsize * 8),
        "colourfulness": round(chroma, 2),
    }


# -- QR codes --------------------------------------------------------------------------------------

def find_qr(img: np.ndarray, *, dpi: float = 300.0) -> list[str]:
    """Payloads of the QR codes on the page (separator and cover sheets), in reading order, no duplicates."""
    g = gray(img)
    small = _shrink(g, 150 / dpi)  # a printed separator QR is large: 150 dpi is enough and 4x faster
    found: list[str] = []
    located = False
    for attempt in (small, g) if small is not g else (g,):
        for detector in (cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()):
            try:
                ok, payloads, points, _ = detector.detectAndDecodeMulti(attempt)
            except cv2.error as exc:
                log.debug("QR detector error: %s", exc)
                continue
            located = located or points is not None
            for text in payloads if ok else ():
                if text and text not in found:
                    found.append(text)
            if found:
                return found
        if not located:  # nothing that looks like a QR code: full size would not find one either
            break
    return found
