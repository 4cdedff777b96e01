"""The order of the image steps for one page, and the flags an operator sees. Steps don't call each other.

The original capture is only read (decoded once); the derivative is a new file written atomically, with its
own hash: by default (ProcessingConfig.derivative_format) the PDF's image layer itself, a colour JPEG
(JPEG_QUALITY) that finishing embeds unchanged (`encode_jpeg`, `is_image_layer`).
A page judged blank is flagged and kept.
"""

from __future__ import annotations

import dataclasses
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from protocol.durable import write_atomic
from protocol.errors import Joined, say
from protocol.hashing import sha256_bytes
from protocol.i18n import N_
from station.processing import separators, steps
from station.processing.config import ProcessingConfig
from station.processing.orientation import Orientation, orient


class ProcessingError(RuntimeError):
    """A page could not be processed (unreadable image); the original stays as it is."""


@dataclass
class PageResult:
    derivative_path: str
    derivative_sha256: str
    angle: float
    rotation: int
    rotation_confidence: float
    blank: bool
    blank_score: float
    metrics: dict[str, Any] = field(default_factory=dict)
    qr: list[str] = field(default_factory=list)
    separator: bool = False  # a sohoa separator sheet: a new document starts after it
    cover: str | None = None  # the hồ sơ code on a sohoa cover sheet
    # the signals that agreed on `rotation`: "lines", "lines+osd", "lines+words", "osd+words", "qr" (a sohoa
    # sheet's code), "osd" (upright by OSD), "none" (kept as scanned: nothing to judge by, or no agreement)
    rotation_method: str = "none"
    rotation_evidence: dict[str, Any] = field(default_factory=dict)  # each signal's answer and score
    manual_rotation: int = 0  # the operator's turn (clockwise) included in the derivative
    flags: list[dict[str, str]] = field(default_factory=list)
    crop: list[int] = field(default_factory=list)  # x, y, w, h kept by the first border removal
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def flag(code: str, message: str, **params: Any) -> dict[str, Any]:
    """A QC flag as stored with the page: its code and its message by key, shown in the operator's language."""
    return {"code": code, **say(message, **params).as_dict()}


#: Page edges, as the edge_content flag names them.
EDGES = {"top": N_("top"), "bottom": N_("bottom"), "left": N_("left"), "right": N_("right")}


def encode_png(img: np.ndarray, *, dpi: float, compression: int = 1) -> bytes:
    """PNG bytes (from BGR or grey) with a pHYs chunk, so OCR and PDF tools see the right resolution."""
    ok, buf = cv2.imencode(
        ".png", img, [cv2.IMWRITE_PNG_COMPRESSION, compression, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
    )
    if not ok:
        raise ProcessingError("PNG encoding failed")
    data = buf.tobytes()
    ppm = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def quality_flags(metrics: dict[str, Any], *, blank: bool, config: ProcessingConfig) -> list[dict[str, str]]:
    """Plain-words reasons to rescan or accept, from the metrics and the configured thresholds."""
    out = []
    if metrics["effective_dpi"] < config.min_dpi:
        dpi = metrics["effective_dpi"]
        out.append(
            flag(
                "low_dpi",
                N_("Resolution %(dpi).0f dpi is below %(min_dpi).0f dpi"), dpi=dpi, min_dpi=config.min_dpi,
            )
        )
    skew = metrics.get("residual_skew_deg")
    if skew is not None and abs(skew) > config.residual_skew_max_deg:
        out.append(flag("skewed", N_("Page is still skewed by %(skew).2f°"), skew=skew))
    depth = metrics.get("ink_depth", metrics.get("contrast"))  # records from before ink_depth: the contrast
    washed_out = depth is not None and depth < config.overexposed_max_contrast
    if metrics["clipped_white"] > config.max_clipped_white and washed_out:
        share = metrics["clipped_white"]
        out.append(
            flag(
                "overexposed",
                N_("%(share).0f%% of the page is pure white (too bright)"), share=share * 100,
            )
        )
    if metrics["clipped_black"] > config.max_clipped_black:
        share = metrics["clipped_black"]
        out.append(
            flag(
                "underexposed",
                N_("%(share).0f%% of the page is pure black (too dark)"), share=share * 100,
            )
        )
    if not blank:
        if metrics["contrast"] is not None and metrics["contrast"] < config.min_contrast:
            out.append(
                flag(
                    "low_contrast",
                    N_("Low contrast (%(contrast).0f grey levels)"), contrast=metrics['contrast'],
                )
            )
        sharp = metrics.get("sharpness_text")
        if sharp is not None and sharp < config.min_sharpness:
            out.append(
                flag(
                    "blurry",
                    N_("Text looks blurred (sharpness %(sharp).0f)"), sharp=sharp,
                )
            )
        sides = [side for side, share in metrics["edge_content"].items() if share > config.max_edge_content]
        if sides:
            out.append(
                flag(
                    "edge_content",
                    N_("Content touches the %(sides)s edge: it may be cut off"),
                    sides=Joined([say(EDGES[s]) for s in sides], ", "),
                )
            )
    return out


def _affine(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _translate(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _quarter(rotation: int, w: int, h: int) -> np.ndarray:
    """The clockwise quarter turn of a w×h image as a 3×3 matrix (as cv2.rotate does it)."""
    return {
        0: np.eye(3),
        90: np.array([[0.0, -1.0, h - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
        180: np.array([[-1.0, 0.0, w - 1.0], [0.0, -1.0, h - 1.0], [0.0, 0.0, 1.0]]),
        270: np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, w - 1.0], [0.0, 0.0, 1.0]]),
    }[rotation % 360]


def _small_grey(img: np.ndarray, dpi: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(full grey, a grey copy at about 150 dpi that every estimate runs on, integer step k: full ≈ k × small)."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    k = max(1, round(dpi / 150.0))
    if k == 1:
        return g, g, 1
    return g, cv2.resize(g, (g.shape[1] // k, g.shape[0] // k), interpolation=cv2.INTER_AREA), k


def encode_derivative(img: np.ndarray, *, dpi: float, config: ProcessingConfig) -> tuple[bytes, str]:
    """(bytes, file suffix) of the derivative in the configured format; `img` is BGR or grey."""
    if config.derivative_format == "png":
        return encode_png(img, dpi=dpi, compression=config.png_compression), ".png"
    return encode_jpeg(img, dpi=dpi), ".jpg"


#: JPEG quality of the page images, in the derivative and so in the archived PDF, and Tesseract reads its luma.
#: 90, not 80: on 29 outside pages with hand-corrected transcriptions (bench/bench_derivative_ocr.py,
#: docs/bench/output.md) the luma of q80 lost 1.2 % of the words that lossless input found (worse on 20 pages,
#: better on 7), q90 0.5 % (16 worse, 11 better: no clear loss); q90 files are 27 % larger than q80.
JPEG_QUALITY = 90
#: qualities earlier releases wrote as the image layer: such derivatives still go into the PDF as they are
#: (decoding and encoding them again would only lose more)
EARLIER_LAYER_QUALITIES = (80,)


def encode_jpeg(img: np.ndarray, *, dpi: float, quality: int = JPEG_QUALITY) -> bytes:
    """The page's image layer: colour JPEG at JPEG_QUALITY (CAP-05 wants RGB at 8 bpc even for a grey original) with its
    DPI in the JFIF header (OpenCV writes 1:1 aspect, no unit). Encoded once, as the derivative: review shows
    it, finishing embeds its bytes unchanged and decodes only its luma for Tesseract. libjpeg-turbo with
    Huffman optimisation: 4% smaller than without, same pixels."""
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:
        raise ProcessingError("JPEG encoding failed")
    data = bytearray(buf.tobytes())
    if data[6:11] == b"JFIF\0":  # APP0: version(2) units(1) Xdensity(2) Ydensity(2)
        data[13] = 1  # dots per inch
        data[14:18] = struct.pack(">HH", round(dpi), round(dpi))
    return bytes(data)


def _jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of a JPEG's segments before its image data; [] when `data` is no JPEG."""
    if data[:2] != b"\xff\xd8":
        return []
    out: list[tuple[int, bytes]] = []
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, size = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xDA:  # start of scan: the header is over
            return out
        out.append((marker, data[i + 4 : i + 2 + size]))
        i += 2 + size
    return []


_LAYER_TABLES: list[list[bytes]] = []  # the quantisation tables of each quality we write or wrote


def is_image_layer(data: bytes) -> bool:
    """True when JPEG bytes are what `encode_jpeg` writes: baseline, 8-bit, 3 components, its quantisation
    tables (of JPEG_QUALITY or an earlier layer quality), no EXIF (whose orientation a PDF writer could apply).
    Such a file goes into the PDF as it is; anything else (a PNG, a q95 derivative from before the layer, a
    user's JPEG) is decoded and encoded."""
    if not _LAYER_TABLES:
        for quality in (JPEG_QUALITY, *EARLIER_LAYER_QUALITIES):
            sample = encode_jpeg(np.zeros((16, 16, 3), np.uint8), dpi=300, quality=quality)
            _LAYER_TABLES.append([body for marker, body in _jpeg_segments(sample) if marker == 0xDB])
    segments = _jpeg_segments(data)
    sof = [m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)]  # start-of-frame markers
    frames = [(marker, body) for marker, body in segments if marker in sof]
    return (
        len(frames) == 1
        and frames[0][0] == 0xC0
        and frames[0][1][0] == 8  # sample precision
        and frames[0][1][5] == 3  # components
        and [body for marker, body in segments if marker == 0xDB] in _LAYER_TABLES
        and not any(marker == 0xE1 and body.startswith(b"Exif") for marker, body in segments)
    )


def derivative_suffix(config: ProcessingConfig | None = None) -> str:
    return ".png" if (config or ProcessingConfig()).derivative_format == "png" else ".jpg"


def process_image(
    img: np.ndarray, *, dpi: float, out_path: Path, config: ProcessingConfig | None = None, manual_rotation: int = 0
) -> PageResult:
    """Run the steps on one page already in memory (BGR or grey uint8) and write its derivative.

    Every estimate runs on one ~150 dpi grey copy; the full-size image is touched once, by a single
    warp that crops, deskews and turns it (or, without skew, a lossless crop and quarter turn).
    `manual_rotation` (clockwise, from the operator's review) is added to the detected rotation.
    """
    started = time.monotonic()
    config = config or ProcessingConfig()
    if manual_rotation % 90:
        raise ValueError(f"manual rotation must be a multiple of 90, got {manual_rotation}")
    flags: list[dict[str, str]] = []
    grey, small, k = _small_grey(img, dpi)
    sdpi = dpi / k
    sh, sw = small.shape
    # 1. borders, on the small copy; the box in full pixels is k times it
    box = (0, 0, sw, sh)
    if config.remove_borders:
        _, box = steps.remove_borders(small)
    bx, by, bw, bh = box
    cropped = small[by : by + bh, bx : bx + bw]
    # 2. skew, and which way the text lines run
    skew = steps.skew_profile(cropped, max_angle=config.max_skew_deg)
    angle = skew.angle or 0.0
    warp = abs(angle) >= config.min_skew_deg
    # small-image transform from the uncropped small copy to the straightened page
    t_small = _translate(-bx, -by)
    straight = cropped
    if warp:
        m = steps.rotate_by_matrix(bw, bh, -angle)
        nw, nh = steps.rotated_size(bw, bh, angle)
        straight = cv2.warpAffine(cropped, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=steps.edge_colour(cropped))
        t_small = _affine(m) @ t_small
        if config.remove_borders:  # the paper edge is straight now: trim what deskew exposed, and the lid
            # around a sheet so skewed that its corners ran off the glass (the first crop then keeps all);
            # with no lid around the paper the new corners are paper-coloured and nothing is cut
            _, (cx, cy, cw, ch) = steps.remove_borders(straight)
            straight = straight[cy : cy + ch, cx : cx + cw]
            t_small = _translate(-cx, -cy) @ t_small
    # 3. blank, before orientation: OSD has nothing to read on a blank page
    score = steps.blank_score(straight, dpi=sdpi, ink_delta=config.blank_ink_delta, dust_mm2=config.blank_dust_mm2)
    blank = steps.is_blank(score, config)
    # 4. QR codes before orientation: a sohoa sheet is turned by its own code (no OSD on a sheet's few words)
    codes = steps.find_qr_codes(straight, dpi=sdpi) if config.find_qr and not blank else []
    qr = [c.payload for c in codes]
    sheet = separators.parse_any(qr)
    sheet_turn = next((c.upright for c in codes if separators.parse(c.payload) == sheet), None) if sheet else None
    found = Orientation(0, 0.0, "none")
    if config.detect_orientation and sheet_turn is not None:
        found = Orientation(sheet_turn, 10.0, "qr")
    elif config.detect_orientation and not blank and score >= config.orientation_min_ink_mm2:
        found = orient(
            straight,
            skew,
            dpi=sdpi,
            use_osd=config.orientation_osd_fallback,
            osd_timeout=config.osd_timeout_s,
            min_osd_confidence=config.min_rotation_confidence,
        )
    if found.uncertain:
        flags.append(
            flag(
                "orientation_uncertain",
                N_("Page may be turned %(uncertain)s° but the signals do not agree; kept as scanned"),
                uncertain=found.uncertain,
            )
        )
    elif found.rotation and found.method != "qr":
        flags.append(
            flag(
                "auto_rotated",
                N_("Page turned %(rotation)s° automatically (%(method)s); please check"),
                rotation=found.rotation, method=found.method,
            )
        )
    turn = (found.rotation + manual_rotation) % 360
    final_small = steps.rotate(straight, turn)
    # 5. the full-size derivative, touched once
    h, w = img.shape[:2]
    if warp:
        kk = np.array([[k, 0.0, (k - 1) / 2], [0.0, k, (k - 1) / 2], [0.0, 0.0, 1.0]])
        ow, oh = straight.shape[1] * k, straight.shape[0] * k
        full = _quarter(turn, ow, oh) @ kk @ t_small @ np.linalg.inv(kk)
        size = (oh, ow) if turn in (90, 270) else (ow, oh)
        src = img[by * k : min(h, (by + bh) * k), bx * k : min(w, (bx + bw) * k)]
        out = cv2.warpAffine(
            img,
            full[:2],
            size,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=steps.edge_colour(src),
        )
    else:
        x0, y0 = bx * k, by * k
        x1 = w if bx + bw >= sw else min(w, (bx + bw) * k)
        y1 = h if by + bh >= sh else min(h, (by + bh) * k)
        out = steps.rotate(img[y0:y1, x0:x1], turn)
    # 6. quality, on the small final page
    s150 = steps.to_150(final_small, sdpi)
    metrics = steps.metrics_150(
        s150,
        dpi=dpi,
        size=(out.shape[1], out.shape[0]),
        sharp=steps.sharpness(grey),
        colour=steps.colourfulness(img),
        channels=1 if img.ndim == 2 else 3,
        bit_depth=8,
        residual="measure" if skew.angle is not None and not blank else None,
    )
    if blank:
        flags.insert(
            0,
            flag(
                "blank",
                N_("The page looks blank (no content); it is kept for review."),
            ),
        )
    flags.extend(quality_flags(metrics, blank=blank, config=config))
    data, _ = encode_derivative(out, dpi=dpi, config=config)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out_path, data)
    return PageResult(
        derivative_path=str(out_path),
        derivative_sha256=sha256_bytes(data),
        angle=round(angle, 3),
        rotation=found.rotation,
        rotation_confidence=round(float(found.confidence), 2),
        rotation_method=found.method,
        rotation_evidence=found.evidence,
        manual_rotation=manual_rotation % 360,
        blank=blank,
        blank_score=round(score, 3),
        metrics=metrics,
        qr=qr,
        separator=sheet is not None and sheet.kind == "separator",
        cover=sheet.file_code if sheet is not None and sheet.kind == "cover" else None,
        flags=flags,
        crop=[bx * k, by * k, bw * k, bh * k],
        seconds=round(time.monotonic() - started, 3),
    )


MAX_PIXELS = 200_000_000  # A0 at 600 dpi is 140 MP; beyond this a file is a decompression bomb, not a scan


def inspect_image(src: Path, data: np.ndarray | None = None) -> str | None:
    """What is wrong with an image file before decoding it (None: decode it), in words for the operator's
    log: a 0-byte file, a PDF, something that is not an image, several pages, too many pixels."""
    from PIL import Image

    if data is None:
        try:
            data = np.fromfile(src, dtype=np.uint8, count=8)
        except OSError as exc:
            return f"cannot read {src}: {exc.strerror or exc}"
    if data.size == 0:
        return f"{src} is empty (0 bytes): copy or scan it again"
    if data[:5].tobytes() == b"%PDF-":
        return f"{src} is a PDF, not an image: render its pages first (pdftoppm -r 300 -png FILE PREFIX)"
    try:
        with Image.open(src) as probe:
            width, height = probe.size
            frames = getattr(probe, "n_frames", 1)
    except Image.DecompressionBombError:
        return f"{src} declares too many pixels (decompression bomb?): not opened"
    except Exception as exc:  # noqa: BLE001 - PIL raises many kinds for files that are not images
        return f"{src} is not an image sohoa can read ({type(exc).__name__}: {str(exc)[:120]})"
    if width * height > MAX_PIXELS:
        return f"{src} is {width}x{height} pixels, more than {MAX_PIXELS:,} (a decompression bomb?): not opened"
    if frames > 1:
        return f"{src} holds {frames} pages (multi-page file): split it into one image per page"
    return None


def load_image(src: Path) -> np.ndarray:
    """Read a capture as BGR (or grey) uint8, decoded once; 16-bit captures are reduced for the steps,
    CMYK and palette images are turned into colour. Raises ProcessingError naming what is wrong."""
    src = Path(src)
    try:
        data = np.fromfile(src, dtype=np.uint8)
    except OSError as exc:
        raise ProcessingError(f"cannot read {src}: {exc.strerror or exc}") from exc
    problem = inspect_image(src, data)
    if problem:
        raise ProcessingError(problem)
    from PIL import Image

    with Image.open(src) as probe:
        cmyk = probe.mode == "CMYK"
    if cmyk:  # OpenCV reads CMYK TIFFs as 4 colour channels: let PIL do the conversion
        with Image.open(src) as im:
            return cv2.cvtColor(np.asarray(im.convert("RGB")), cv2.COLOR_RGB2BGR)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ProcessingError(f"cannot decode image {src} (damaged or cut short?)")
    if img.dtype == np.uint16:
        img = np.right_shift(img, 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ProcessingError(f"{src}: {img.dtype} samples are not supported; save it as 8 or 16 bit")
    if img.ndim == 3 and img.shape[2] == 4:  # transparent areas are paper (white), not black
        alpha = img[..., 3:].astype(np.float32) / 255.0
        img = (img[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    return img


def process_page(
    src: Path, *, dpi: float, out_path: Path, config: ProcessingConfig | None = None, manual_rotation: int = 0
) -> PageResult:
    """Read one captured page (never modified) and run `process_image` on it."""
    started = time.monotonic()
    result = process_image(
        load_image(Path(src)), dpi=dpi, out_path=out_path, config=config, manual_rotation=manual_rotation
    )
    result.seconds = round(time.monotonic() - started, 3)
    return result
