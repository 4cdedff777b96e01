"""Separator and cover sheets: their QR payloads, and printable sheets (PDF) made from a work order.

Payloads (plain ASCII in the QR, so any reader decodes them):
  separator: ``SOHOA-SEP:v1`` or ``SOHOA-SEP:v1:<fileCode>`` (a new document starts after this sheet)
  cover:     ``SOHOA-COVER:v1:<fileCode>`` (the hồ sơ code; the rest of the payload, colons allowed)
The ``SOHOA-SEP`` prefix is the one station/review.py splits documents at. ``SOHOA:SEP:v1`` and
``SOHOA:COVER:v1:<fileCode>`` are read too.
"""

from __future__ import annotations

import io
import logging
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import cv2
import img2pdf
import numpy as np
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

VERSION = "v1"
SEPARATOR = "SOHOA-SEP"
COVER = "SOHOA-COVER"
FONT = Path("/usr/share/fonts/truetype/freefont/FreeSerif.ttf")
FONT_BOLD = Path("/usr/share/fonts/truetype/freefont/FreeSerifBold.ttf")
SHEET_DPI = 300
A4_MM = (210.0, 297.0)
QR_MM = 50.0  # large modules (≥ 1.3 mm) survive a worn print and a 75 dpi look on the scan

_PAYLOAD = re.compile(r"^SOHOA[-:](SEP|COVER):(v\d+)(?::(.*))?$", re.DOTALL)


class SheetError(ValueError):
    """A sheet cannot be made (empty or unprintable file code)."""


@dataclass(frozen=True)
class Sheet:
    kind: str  # "separator" or "cover"
    file_code: str | None = None


def separator_payload(file_code: str | None = None) -> str:
    return f"{SEPARATOR}:{VERSION}" + (f":{_check_code(file_code)}" if file_code else "")


def cover_payload(file_code: str) -> str:
    return f"{COVER}:{VERSION}:{_check_code(file_code)}"


def _check_code(file_code: str) -> str:
    code = file_code.strip()
    if not code or not code.isprintable() or not code.isascii():
        raise SheetError(f"file code must be printable ASCII, got {file_code!r}")
    return code


def parse(payload: str) -> Sheet | None:
    """The sheet a QR payload names, or None for any other QR (a document's own code)."""
    m = _PAYLOAD.match(payload.strip())
    if not m:
        return None
    kind, version, rest = m.group(1), m.group(2), m.group(3)
    if version != VERSION:
        log.warning("sohoa sheet of unknown version %s ignored: %r", version, payload)
        return None
    if kind == "SEP":
        return Sheet("separator", rest or None)
    if not rest:
        return None  # a cover without a code says nothing
    return Sheet("cover", rest)


def parse_any(payloads: list[str]) -> Sheet | None:
    """The first sohoa sheet among a page's QR payloads (a cover wins over a separator)."""
    sheets = [s for s in (parse(p) for p in payloads) if s is not None]
    covers = [s for s in sheets if s.kind == "cover"]
    return (covers or sheets)[0] if (covers or sheets) else None


# -- printing --------------------------------------------------------------------------------------


def _font(path: Path, px: int) -> ImageFont.FreeTypeFont:
    if not path.exists():
        raise SheetError(f"missing font {path}: apt-get install fonts-freefont-ttf")
    return ImageFont.truetype(str(path), px)


def _qr(payload: str, px: int) -> np.ndarray:
    params = cv2.QRCodeEncoder.Params()
    params.correction_level = cv2.QRCodeEncoder_CORRECT_LEVEL_Q  # 25% of the code may be lost to a fold
    code = cv2.QRCodeEncoder.create(params).encode(payload)  # with its 4-module quiet zone
    return cv2.resize(code, (px, px), interpolation=cv2.INTER_NEAREST)


def render_sheet(
    sheet: Sheet, *, title: str = "", expected_sheets: int | None = None, index: int | None = None, dpi: int = SHEET_DPI
) -> Image.Image:
    """One A4 sheet as a greyscale image: the QR twice (top and bottom, so a sheet fed upside down or
    with a torn corner is still found), and Vietnamese text for the operator."""
    w, h = round(A4_MM[0] / 25.4 * dpi), round(A4_MM[1] / 25.4 * dpi)
    page = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(page)
    mm = dpi / 25.4
    if sheet.kind == "cover":
        assert sheet.file_code
        payload = cover_payload(sheet.file_code)
        heading = "TỜ BÌA HỒ SƠ"
        lines = [f"Mã hồ sơ: {sheet.file_code}"]
        lines += textwrap.wrap(f"Tiêu đề: {title}", 48) if title else []
        if expected_sheets:
            lines.append(f"Số tờ dự kiến: {expected_sheets}")
        hint = "Đặt tờ này trên cùng khi quét hồ sơ. Cover sheet: scan it first."
    else:
        payload = separator_payload(sheet.file_code)
        heading = "TỜ PHÂN CÁCH TÀI LIỆU"
        lines = [f"Mã hồ sơ: {sheet.file_code}"] if sheet.file_code else []
        if index is not None:
            lines.append(f"Tờ phân cách số {index}")
        hint = "Đặt tờ này trước mỗi văn bản mới. Separator sheet: a new document starts after it."
    qr = Image.fromarray(_qr(payload, round(QR_MM * mm)))
    page.paste(qr, ((w - qr.width) // 2, round(15 * mm)))
    page.paste(qr, ((w - qr.width) // 2, h - round(15 * mm) - qr.height))
    y = round(15 * mm) + qr.height + round(10 * mm)
    big, normal, small = _font(FONT_BOLD, round(8 * mm)), _font(FONT, round(5.5 * mm)), _font(FONT, round(4 * mm))
    rows = [(heading, big, 14, 40), *[(line, normal, 9, 48) for line in lines], (hint, small, 7, 90)]
    for text, font, gap, width in rows:
        for part in textwrap.wrap(text, width) or [""]:
            tw = draw.textlength(part, font=font)
            draw.text(((w - tw) / 2, y), part, font=font, fill=0)
            y += round(gap * mm)
    draw.text((round(15 * mm), h - round(8 * mm)), payload, font=small, fill=90)
    return page


def sheets_pdf(file_code: str, *, title: str = "", expected_sheets: int | None = None, separators: int = 1) -> bytes:
    """A PDF to print for a work order: one cover sheet, then `separators` separator sheets."""
    sheets = [render_sheet(Sheet("cover", _check_code(file_code)), title=title, expected_sheets=expected_sheets)]
    sheets += [render_sheet(Sheet("separator", file_code), index=i + 1) for i in range(separators)]
    images = []
    for image in sheets:
        buf = io.BytesIO()
        image.convert("1", dither=Image.Dither.NONE).save(buf, format="PNG", dpi=(SHEET_DPI, SHEET_DPI))
        images.append(buf.getvalue())
    return img2pdf.convert(images, layout_fun=img2pdf.get_fixed_dpi_layout_fun((SHEET_DPI, SHEET_DPI)))
