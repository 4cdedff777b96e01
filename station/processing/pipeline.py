"""The order of the image steps for one page, and the flags an operator sees. Steps don't call each other.

The original capture is only read; the derivative is a new PNG written atomically, with its own hash.
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
from protocol.hashing import sha256_bytes
from station.processing import steps
from station.processing.config import ProcessingConfig


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
    flags: list[dict[str, str]] = field(default_factory=list)
    crop: list[int] = field(default_factory=list)  # x, y, w, h kept by the first border removal
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def flag(code: str, message: str, message_vi: str) -> dict[str, str]:
    return {"code": code, "message": message, "message_vi": message_vi}


def load_rgb(src: Path) -> np.ndarray:
    """Read a capture as RGB uint8 (grey and 16-bit captures are converted for the steps only)."""
    data = np.fromfile(src, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ProcessingError(f"cannot read image {src}")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def encode_png(img: np.ndarray, *, dpi: float, compression: int = 1) -> bytes:
    """PNG bytes with a pHYs chunk, so OCR and PDF tools see the right resolution."""
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, compression,
                                         cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB])
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
        out.append(flag("low_dpi", f"Resolution {dpi:.0f} dpi is below {config.min_dpi:.0f} dpi",
                        f"Độ phân giải {dpi:.0f} dpi thấp hơn mức tối thiểu {config.min_dpi:.0f} dpi"))
    skew = metrics.get("residual_skew_deg")
    if skew is not None and abs(skew) > config.residual_skew_max_deg:
        out.append(flag("skewed", f"Page is still skewed by {skew:.2f}°",
                        f"Trang vẫn còn bị nghiêng {skew:.2f}°"))
    if metrics["clipped_white"] > config.max_clipped_white:
        share = metrics["clipped_white"]
        out.append(flag("overexposed", f"{share:.0%} of the page is pure white (too bright)",
                        f"{share:.0%} diện tích trang bị cháy trắng (quá sáng)"))
    if metrics["clipped_black"] > config.max_clipped_black:
        share = metrics["clipped_black"]
        out.append(flag("underexposed", f"{share:.0%} of the page is pure black (too dark)",
                        f"{share:.0%} diện tích trang bị đen kịt (quá tối)"))
    if not blank:
        if metrics["contrast"] is not None and metrics["contrast"] < config.min_contrast:
            out.append(flag("low_contrast", f"Low contrast ({metrics['contrast']:.0f} grey levels)",
                            f"Độ tương phản thấp ({metrics['contrast']:.0f} mức xám)"))
        sharp = metrics.get("sharpness_text")
        if sharp is not None and sharp < config.min_sharpness:
            out.append(flag("blurry", f"Text looks blurred (sharpness {sharp:.0f})",
                            f"Chữ bị mờ, không sắc nét (độ nét {sharp:.0f})"))
        sides = [side for side, share in metrics["edge_content"].items() if share > config.max_edge_content]
        if sides:
            vi = {"top": "trên", "bottom": "dưới", "left": "trái", "right": "phải"}
            out.append(flag("edge_content", f"Content touches the {', '.join(sides)} edge: it may be cut off",
                            f"Nội dung chạm mép {', '.join(vi[s] for s in sides)}: có thể bị mất một phần"))
    return out


def process_page(src: Path, *, dpi: float, out_path: Path,
                 config: ProcessingConfig | None = None) -> PageResult:
    """Run the steps on one captured page and write its derivative to `out_path`."""
    started = time.monotonic()
    config = config or ProcessingConfig()
    img = load_rgb(Path(src))
    crop: tuple[int, int, int, int] = (0, 0, img.shape[1], img.shape[0])
    flags: list[dict[str, str]] = []
    if config.remove_borders:
        img, crop = steps.remove_borders(img)
    img, angle = steps.deskew(img, max_angle=config.max_skew_deg, min_angle=config.min_skew_deg)
    if config.remove_borders and abs(angle) >= config.min_skew_deg:
        img, _ = steps.remove_borders(img)  # the paper edge is straight now: trim what deskew exposed
    score = steps.blank_score(img, dpi=dpi, ink_delta=config.blank_ink_delta, dust_mm2=config.blank_dust_mm2)
    blank = steps.is_blank(score, config)
    rotation, confidence = 0, 0.0
    if config.detect_orientation and not blank:  # OSD has nothing to read on a blank page
        rotation, confidence = steps.detect_orientation(img, dpi=dpi, timeout=config.osd_timeout_s)
        if rotation and confidence < config.min_rotation_confidence:
            flags.append(flag("orientation_uncertain",
                              f"Page may be turned {rotation}° (confidence {confidence:.1f}); not rotated",
                              f"Trang có thể bị xoay {rotation}° (độ tin cậy {confidence:.1f}); "
                              "chưa tự xoay"))
            rotation = 0
        img = steps.rotate(img, rotation)
    metrics = steps.quality_metrics(img, dpi=dpi)
    qr = steps.find_qr(img, dpi=dpi)
    if blank:
        flags.insert(0, flag("blank", "Page looks blank; kept for review",
                             "Trang có vẻ trắng (không có nội dung); vẫn được giữ lại để kiểm tra"))
    flags.extend(quality_flags(metrics, blank=blank, config=config))
    data = encode_png(img, dpi=dpi, compression=config.png_compression)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out_path, data)
    return PageResult(derivative_path=str(out_path), derivative_sha256=sha256_bytes(data),
                      angle=round(angle, 3), rotation=rotation, rotation_confidence=round(confidence, 2),
                      blank=blank, blank_score=round(score, 3), metrics=metrics, qr=qr, flags=flags,
                      crop=list(crop), seconds=round(time.monotonic() - started, 3))
