"""Image steps on one page: numpy RGB uint8 arrays in, new arrays out. Each step stands alone.

Estimates run on a downscaled grey copy (fast); corrections are applied to the full-size image.
Angles are in degrees, counter-clockwise positive (as the page lies on the glass); rotations are
clockwise quarter turns.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

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
    t = np.float32(math.tan(math.radians(angle)))
    proj = (xs - ys * t) if vertical else (ys + xs * t)
    proj -= proj.min()
    hist = np.bincount(proj.astype(np.int32)).astype(np.float64)  # truncation: 1 px bins are enough
    return float(np.dot(hist, hist))


def _refine(ys: np.ndarray, xs: np.ndarray, centre: float, half: float, step: float, vertical: bool) -> float:
    """The best angle on a grid around `centre`, with parabolic peak interpolation."""
    grid = np.arange(centre - half, centre + half + 1e-9, step)
    scores = np.array([_profile_score(ys, xs, a, vertical) for a in grid])
    i = int(scores.argmax())
    angle = float(grid[i])
    if 0 < i < len(grid) - 1:
        a, b, c = scores[i - 1], scores[i], scores[i + 1]
        denom = a - 2 * b + c
        if denom < 0:
            angle += step * 0.5 * (a - c) / denom
    return angle


@dataclass(frozen=True)
class Skew:
    """A skew estimate: `angle` (None when unreliable), how peaked the profile is, and whether the text
    lines run vertically (the page lies at 90° or 270°), with how clearly (`line_ratio`, ≥ 1)."""

    angle: float | None
    confidence: float
    vertical: bool = False
    line_ratio: float = 1.0


def text_points(g: np.ndarray, *, ink: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ys, xs) float32 of the ink pixels inside the outer 4% (paper edges, shadows, holes are not text)."""
    if ink is None:
        ink = ink_mask(g, delta=40, window=9)
    h, w = ink.shape
    my, mx = max(1, h // 25), max(1, w // 25)
    pts = cv2.findNonZero(np.ascontiguousarray(ink[my:-my, mx:-mx]).view(np.uint8))
    if pts is None:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    pts = pts.reshape(-1, 2).astype(np.float32)
    return pts[:, 1].copy(), pts[:, 0].copy()


def _sample(ys: np.ndarray, xs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """About `n` points, evenly strided (the points come in raster order: the sample covers the page)."""
    step = ys.size // n
    return (ys[::step], xs[::step]) if step > 1 else (ys, xs)


def skew_profile(g: np.ndarray, *, max_angle: float = 5.0, ink: np.ndarray | None = None) -> Skew:
    """Skew from the projection profile of text pixels of a small (≈150 dpi) grey page.

    Text lines give a sharply peaked profile only at the right angle; horizontal and vertical lines
    are both tried, which also tells a page lying at 90°/270° from an upright one. Coarse on a sample,
    then two finer grids on more points: ~20 ms on an A4 page at 150 dpi.
    """
    ys, xs = text_points(g, ink=ink)
    if ys.size < 400:
        return Skew(None, 0.0)
    cys, cxs = _sample(ys, xs, 8_000)  # the coarse search needs few points
    coarse = np.arange(-max_angle, max_angle + 1e-9, 0.25)
    peaks = []
    for vertical in (False, True):
        scores = np.array([_profile_score(cys, cxs, a, vertical) for a in coarse])
        top = int(scores.argmax())
        peaks.append((float(scores[top] / np.median(scores)), float(scores[top]), float(coarse[top]), vertical))
    peaks.sort(key=lambda p: p[1], reverse=True)
    confidence, best, angle0, vertical = peaks[0]
    line_ratio = best / max(peaks[1][1], 1e-9)
    if confidence < 1.3:  # flat profile: no text lines (blank, photo, handwriting)
        return Skew(None, confidence, vertical, line_ratio)
    ys, xs = _sample(ys, xs, 60_000)
    angle = _refine(ys, xs, angle0, 0.3, 0.05, vertical)
    angle = _refine(ys, xs, angle, 0.04, 0.01, vertical)
    return Skew(float(angle), confidence, vertical, line_ratio)


def residual_skew(g: np.ndarray, *, half: float = 0.6, ink: np.ndarray | None = None) -> float | None:
    """The skew left on a straightened small grey page, searched only near 0° (cheap): the check that
    deskewing worked. None without text lines."""
    ys, xs = text_points(g, ink=ink)
    if ys.size < 400:
        return None
    ys, xs = _sample(ys, xs, 20_000)
    return _refine(ys, xs, 0.0, half, 0.1, False)  # upright: the lines are horizontal


def edge_colour(img: np.ndarray) -> tuple[int, ...]:
    """The median colour of the image's outer frame: what the page looks like beyond its edges."""
    c = img.shape[-1] if img.ndim == 3 else 1
    frame = np.concatenate(
        [img[:2].reshape(-1, c), img[-2:].reshape(-1, c), img[:, :2].reshape(-1, c), img[:, -2:].reshape(-1, c)]
    )
    return tuple(int(v) for v in np.median(frame, axis=0))


def rotated_size(w: int, h: int, angle: float) -> tuple[int, int]:
    """(width, height) of a canvas that holds a w×h image turned by `angle` degrees."""
    cos, sin = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    return math.ceil(h * sin + w * cos), math.ceil(h * cos + w * sin)


def rotate_by_matrix(w: int, h: int, angle: float) -> np.ndarray:
    """The 2×3 matrix turning a w×h image by `angle` degrees counter-clockwise onto `rotated_size`."""
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    nw, nh = rotated_size(w, h, angle)
    m[0, 2] += (nw - w) / 2
    m[1, 2] += (nh - h) / 2
    return m


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
        fy0 += _dark_run(g[fy0 : fy0 + limit, fx0:fx1], thr)
    if y1 < sh:
        fy1 -= _dark_run(g[max(fy0, fy1 - limit) : fy1, fx0:fx1][::-1], thr)
    if x0 > 0:
        fx0 += _dark_run(g[fy0:fy1, fx0 : fx0 + limit].T, thr)
    if x1 < sw:
        fx1 -= _dark_run(g[fy0:fy1, max(fx0, fx1 - limit) : fx1].T[::-1], thr)
    if (fx0, fy0, fx1, fy1) == (0, 0, w, h):
        return img, full
    return img[fy0:fy1, fx0:fx1].copy(), (fx0, fy0, fx1 - fx0, fy1 - fy0)


# -- orientation -----------------------------------------------------------------------------------


OSD_MIN_CHARACTERS = 50  # Tesseract's min_characters_to_try: OSD classifies up to 5x this many blobs


def osd_input(img: np.ndarray, *, dpi: float) -> tuple[np.ndarray, int]:
    """(8-bit grey page, its dpi) as OSD is given it: shrunk to 200 dpi from anything finer (OSD is as right
    at 150-200 dpi as at 300, measured, and faster)."""
    g = gray(img)
    use_dpi = dpi
    if dpi > 200:
        small = _shrink(g, 200 / dpi)
        use_dpi = dpi * small.shape[1] / g.shape[1]
        g = small
    return np.ascontiguousarray(g), round(use_dpi)


def osd(g: np.ndarray, *, dpi: int, min_characters: int, timeout: float) -> dict | None:
    """Tesseract OSD's answer for an `osd_input` page (see station.output.tessworker.Engine.orientation), by
    a Tesseract with only the OSD data loaded that stays loaded in a child process between pages; None when
    the page has too few characters. Raises EngineError when the child fails (it is then replaced)."""
    from station.output.tessworker import engine

    with engine("osd") as tesseract:
        return tesseract.orientation(
            g.tobytes(),
            width=g.shape[1],
            height=g.shape[0],
            dpi=dpi,
            min_characters=int(min_characters),
            timeout=timeout,
        )


def detect_orientation(
    img: np.ndarray, *, dpi: float, timeout: float = 30.0, min_characters: int = OSD_MIN_CHARACTERS
) -> tuple[int, float]:
    """(clockwise rotation that makes the page upright: 0|90|180|270, confidence) by Tesseract OSD.
    A page without enough text gives (0, 0.0), and so does a Tesseract that crashed or ran past `timeout`
    (that page's answer is lost, the next page gets a new Tesseract).

    OSD's cost is the blobs it classifies (each in four turns, up to 5 × `min_characters`), not the page's
    size. Kept loaded, an ask cost 0.14 s of CPU on average over the orientation bench's pages (the program,
    started for each ask, 0.45 s: `python -m bench osd`)."""
    from station.output.tessworker import EngineError

    g, use_dpi = osd_input(img, dpi=dpi)
    try:
        answer = osd(g, dpi=use_dpi, min_characters=min_characters, timeout=timeout)
    except EngineError as exc:
        log.warning("OSD gave no answer (%s): %s", exc.kind, exc.detail)
        return 0, 0.0
    if answer is None:  # "Too few characters": no text to judge by
        return 0, 0.0
    return int(answer["rotate"]) % 360, float(answer["confidence"])


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


BLANK_FAST_MM2 = 25.0  # 50x the default blank threshold: no dust or noise adds up to this


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
    # a page with plenty of ink well inside (no holes or staples there) is far from the threshold: its
    # score is that ink area, without the component analysis (~20 ms on a text page)
    inner = round(36 * mm)
    if h > 2 * inner and w > 2 * inner:
        centre_mm2 = cv2.countNonZero(ink[inner:-inner, inner:-inner].view(np.uint8)) / (mm * mm)
        if centre_mm2 >= BLANK_FAST_MM2:
            return float(centre_mm2)
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


def sharpness(g: np.ndarray) -> float:
    """Variance of the Laplacian at capture resolution, on the middle quarter of the page (where the
    content is; a quarter is 4x cheaper and says the same about focus and motion blur)."""
    h, w = g.shape
    centre = g[h // 4 : h - h // 4, w // 4 : w - w // 4]
    _, std = cv2.meanStdDev(cv2.Laplacian(centre, cv2.CV_16S))
    return float(std[0, 0]) ** 2


def colourfulness(img: np.ndarray) -> float:
    """Mean distance of a channel from the pixel's grey level (0 for a grey capture), on every 4th pixel."""
    if img.ndim == 2:
        return 0.0
    sample = np.ascontiguousarray(img[::4, ::4])
    g = cv2.cvtColor(sample, cv2.COLOR_BGR2GRAY)
    diff = cv2.absdiff(sample, cv2.merge([g, g, g]))
    return float(sum(cv2.mean(diff)[:3]) / 3)


def percentile_u8(img: np.ndarray, q: float, mask: np.ndarray | None = None) -> float | None:
    """The `q` quantile (0–1) of a uint8 image (under `mask`), from its histogram."""
    hist = cv2.calcHist([img], [0], None if mask is None else mask.view(np.uint8), [256], [0, 256]).ravel()
    total = hist.sum()
    if total == 0:
        return None
    return float(np.searchsorted(np.cumsum(hist), q * total))


def median_u8(img: np.ndarray, mask: np.ndarray | None = None) -> float | None:
    """Median of a uint8 image (under `mask`) from its histogram: ~10x faster than np.median."""
    return percentile_u8(img, 0.5, mask)


def _across(band: np.ndarray, skip: int, mm: float) -> np.ndarray:
    """Which positions along an edge have ink crossing into the page, from the edge band `band` (rows from the
    edge inwards, the edge in row 0), skipping the outermost `skip` rows. A line running along the edge (the
    paper's own edge, a scanner's shadow, slightly tilted after deskew) is not content cut off: runs of ink
    longer than 8 mm along the edge are left out."""
    band8 = np.ascontiguousarray(band).view(np.uint8)
    run = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, round(8 * mm)), 1))
    along = cv2.morphologyEx(band8, cv2.MORPH_OPEN, run)
    inner: np.ndarray = band8[skip:]
    if cv2.countNonZero(along):
        inner = np.bitwise_and(inner, cv2.dilate(along, np.ones((3, 3), np.uint8))[skip:] == 0)
    columns: np.ndarray = np.asarray(inner.any(axis=0))
    return columns


def metrics_150(
    s: np.ndarray,
    *,
    dpi: float,
    size: tuple[int, int],
    sharp: float,
    colour: float,
    channels: int,
    bit_depth: int,
    residual: float | str | None = "measure",
) -> dict:
    """The quality metrics from a 150 dpi grey copy `s` of the final page plus numbers measured at capture
    resolution. `size` is the final page's (width, height) in pixels at `dpi`; `residual` is the residual
    skew, or "measure" to measure it here."""
    w, h = size
    mm = s.shape[1] / (w / dpi * MM_PER_INCH)  # pixels per mm of `s`
    ink = ink_mask(s, delta=60, window=round(3 * mm) | 1)
    # sharpness over text only (blank paper would otherwise read as blurry): mean squared Laplacian
    lap = cv2.Laplacian(s, cv2.CV_16S)
    near_ink = cv2.dilate(ink.view(np.uint8), np.ones((3, 3), np.uint8))
    if cv2.countNonZero(near_ink) > 200:
        mean, std = cv2.meanStdDev(lap, mask=near_ink)
        sharpness_text = float(std[0, 0]) ** 2 + float(mean[0, 0]) ** 2
    else:
        sharpness_text = None
    # ink in a strip 1–3 mm from each edge (the outermost mm is the paper's own edge line)
    a, b = max(1, round(1 * mm)), max(2, round(3 * mm))
    edges = {
        "top": _across(ink[:b], a, mm).mean(),
        "bottom": _across(ink[-b:][::-1], a, mm).mean(),
        "left": _across(ink[:, :b].T, a, mm).mean(),
        "right": _across(ink[:, -b:][:, ::-1].T, a, mm).mean(),
    }
    # contrast of ink against paper: the typical paper level minus the typical ink level
    paper_level = median_u8(s) or 0.0
    some_ink = cv2.countNonZero(ink.view(np.uint8)) > 50
    contrast = paper_level - (median_u8(s, ink) or 0.0) if some_ink else None
    # how dark the darkest ink gets (its 10th percentile): overexposure greys every stroke, while a clean page
    # keeps black text next to coloured or thin lines, whose median alone reads as washed out
    ink_depth = paper_level - (percentile_u8(s, 0.1, ink) or 0.0) if some_ink else None
    skew = residual_skew(s, ink=ink) if residual == "measure" else residual  # measure: deskewing worked?
    assert not isinstance(skew, str)
    # clipping from the 150 dpi copy: area averaging keeps large clipped areas clipped, which is what counts
    hist = cv2.calcHist([s], [0], None, [256], [0, 256]).ravel() / s.size
    return {
        "width_px": w,
        "height_px": h,
        "dpi": float(dpi),
        "width_mm": round(w / dpi * MM_PER_INCH, 1),
        "height_mm": round(h / dpi * MM_PER_INCH, 1),
        "effective_dpi": float(dpi),
        "residual_skew_deg": None if skew is None else round(skew, 3),
        "sharpness": round(sharp, 1),
        "sharpness_text": None if sharpness_text is None else round(sharpness_text, 1),
        "clipped_black": round(float(hist[:3].sum()), 5),
        "clipped_white": round(float(hist[253:].sum()), 5),
        "contrast": None if contrast is None else round(contrast, 1),
        "ink_depth": None if ink_depth is None else round(ink_depth, 1),
        "paper_level": round(paper_level, 1),
        "edge_content": {k: round(float(v), 4) for k, v in edges.items()},
        "channels": channels,
        "bit_depth": bit_depth,
        "colourfulness": round(colour, 2),
    }


def to_150(g: np.ndarray, dpi: float) -> np.ndarray:
    """An exact 150 dpi copy (thresholds mean the same for any capture resolution)."""
    factor = 150.0 / dpi
    if abs(factor - 1.0) < 0.01:
        return g
    h, w = g.shape
    return cv2.resize(g, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)


# -- QR codes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QRCode:
    payload: str
    upright: int | None  # clockwise quarter turn that makes the code (and a sheet it is printed on) upright


def _upright(points: np.ndarray | None) -> int | None:
    """The turn that makes a located code upright: its corners come first top-left, then top-right."""
    if points is None or len(points) < 2:
        return None
    dx, dy = (float(v) for v in points[1] - points[0])
    return (-round(math.degrees(math.atan2(dy, dx)) / 90) * 90) % 360


def _decode_qr(g: np.ndarray, found: list[QRCode]) -> bool:
    """Run both OpenCV decoders on `g`, adding codes to `found`; True if anything QR-like was located."""
    located = False
    for detector in (cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()):
        try:
            ok, payloads, points, _ = detector.detectAndDecodeMulti(g)
        except cv2.error as exc:
            log.debug("QR detector error: %s", exc)
            continue
        located = located or points is not None
        for i, text in enumerate(payloads if ok else ()):
            if text and all(text != c.payload for c in found):
                found.append(QRCode(text, _upright(points[i] if points is not None else None)))
        if found:
            break
    return located


def find_qr_codes(img: np.ndarray, *, dpi: float = 300.0, gate: bool = True) -> list[QRCode]:
    """The QR codes on the page (separator and cover sheets), no duplicates, with which way up each lies.

    With `gate`, a cheap look for QR finder patterns at 75 dpi comes first and most pages stop there
    (a text page costs ~5 ms instead of ~130 ms). Codes with modules of about 1 mm or more, like the
    sheets `separators.render_sheet` prints, pass the gate; a small QR printed on a document may not.
    """
    g = gray(img)
    if gate:
        tiny = _shrink(g, 75 / dpi)
        try:
            seen = cv2.QRCodeDetectorAruco().detectMulti(tiny)[0]
        except cv2.error:
            seen = True  # let the decoders decide
        if not seen:
            return []
    small = _shrink(g, 150 / dpi)  # a printed separator QR is large: 150 dpi is enough and 4x faster
    found: list[QRCode] = []
    located = _decode_qr(small, found)
    if not found and small is not g and (located or gate):
        _decode_qr(g, found)
    return found


def find_qr(img: np.ndarray, *, dpi: float = 300.0, gate: bool = True) -> list[str]:
    """Payloads of the QR codes on the page, no duplicates (see `find_qr_codes`)."""
    return [code.payload for code in find_qr_codes(img, dpi=dpi, gate=gate)]
