"""The marks and signature on a derived copy's PDF (TT05 Điều 37, 40-42), never on the stored master.

Marks are pyHanko text stamps (FreeSerif, which has Vietnamese) added as an incremental update: the
original bytes, and with them the agency's own signature, stay in the copy untouched, so a validator sees
the original signature intact and the mark as a later change. A certified copy is then signed by the
archive (PAdES, invisible: its visible evidence is the "BẢN SAO" mark naming the archive and the time).
"""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path
from typing import Any

import pikepdf
from PIL import ImageFont
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import SimpleBoxLayoutRule
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import TextStamp, TextStampStyle

from protocol import pdfa
from protocol.clock import now_vn
from protocol.errors import UserError

log = logging.getLogger(__name__)
logging.getLogger("fontTools").setLevel(logging.ERROR)

FONT = Path("/usr/share/fonts/truetype/freefont/FreeSerif.ttf")
MARK_PT = 10  # TT05: "BẢN SAO" in a Times face, 10 pt, black
MARGIN_PT = 14
PAD_PT = 2


class CopyPdfError(UserError):
    """A copy that cannot be made (no signing key, unreadable master); `.text(lang)` is for the archivist."""

    status = 503


@functools.lru_cache(maxsize=1)
def _measure() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size=1000)


def _size(lines: list[str]) -> tuple[float, float]:
    width = max(_measure().getlength(line) for line in lines) / 1000 * MARK_PT
    return width + 2 * PAD_PT + 2, len(lines) * MARK_PT * 1.25 + 2 * PAD_PT


def _style(text: str) -> TextStampStyle:
    return TextStampStyle(
        stamp_text=text.replace("%", "%%"),
        text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(str(FONT), font_size=MARK_PT), font_size=MARK_PT,
                                    text_color=(0, 0, 0), box_layout_rule=SimpleBoxLayoutRule(
                                        x_align=_centre(), y_align=_centre())),
        border_width=0,
        background=None,
    )


def _centre() -> Any:  # pyHanko's AxisAlignment, imported late
    from pyhanko.pdf_utils.layout import AxisAlignment

    return AxisAlignment.ALIGN_MID


def _box(v: list[float]) -> tuple[float, float, float, float]:
    return v[0], v[1], v[2], v[3]


def _page_boxes(data: bytes) -> list[tuple[float, float, float, float]]:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        return [_box([float(v) for v in page.mediabox]) for page in pdf.pages]


def _signature_bottom(data: bytes) -> float | None:
    """The lowest edge of the visible signature boxes on page 1 (the agency's stamp sits top right too):
    the "BẢN SAO" mark goes just below it rather than over it."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        bottoms = []
        for annot in pdf.pages[0].get("/Annots", []) if len(pdf.pages) else []:
            field_type = annot.get("/FT") or (annot.get("/Parent") or pikepdf.Dictionary()).get("/FT")
            rect = [float(v) for v in annot.get("/Rect", [])]
            if field_type == "/Sig" and len(rect) == 4 and rect[3] - rect[1] > 1:
                bottoms.append(min(rect[1], rect[3]))
        return min(bottoms) if bottoms else None


def stamp(data: bytes, text: str, *, where: str, pages: str = "all") -> bytes:
    """`data` with `text` stamped at `where` ("bottom_centre" or "top_right") on every page or the first."""
    from pyhanko.pdf_utils.layout import BoxConstraints

    lines = text.split("\n")
    width, height = _size(lines)
    boxes = _page_boxes(data)
    below = _signature_bottom(data) if where == "top_right" else None
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    # one stamp (one form XObject, one embedded font) drawn on every page: a font per page made a
    # 300-page read-only view take minutes
    mark = TextStamp(writer, _style(text), box=BoxConstraints(width=int(width) + 1, height=int(height) + 1))
    for index, (x1, y1, x2, y2) in enumerate(boxes if pages == "all" else boxes[:1]):
        if where == "bottom_centre":
            x, y = (x1 + x2 - width) / 2, y1 + MARGIN_PT
        elif below is not None and index == 0:
            x, y = x2 - MARGIN_PT - width, below - PAD_PT - height
        else:
            x, y = x2 - MARGIN_PT - width, y2 - MARGIN_PT - height
        mark.apply(index, int(x), int(y))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def text_pdfa(title: str, lines: list[str], *, author: str) -> bytes:
    """A one-page A4 PDF/A-2b of plain lines (the DIP's authentication sheet), fonts embedded by pyHanko."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdfa.identify(pdf, title=title, author=author, when=now_vn().replace(microsecond=0))
    buf = io.BytesIO()
    pdf.save(buf, fix_metadata_version=True, min_version="1.7")
    body = stamp_lines(buf.getvalue(), lines)
    return body


def stamp_lines(data: bytes, lines: list[str]) -> bytes:
    """Lines of text from the top-left of page 1 (one stamp per line, so long sheets stay simple)."""
    from pyhanko.pdf_utils.layout import BoxConstraints

    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    y = 842.0 - 60
    for line in lines:
        if line:
            width, height = _size([line])
            style = TextStampStyle(stamp_text=line.replace("%", "%%"), border_width=0, background=None,
                                   text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(str(FONT),
                                                                                            font_size=MARK_PT),
                                                               font_size=MARK_PT, text_color=(0, 0, 0)))
            TextStamp(writer, style, box=BoxConstraints(width=int(width) + 1, height=int(height) + 1)).apply(
                0, 56, int(y))
        y -= MARK_PT * 1.8
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
