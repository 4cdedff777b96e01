"""Two-layer PDF/A-2b per document: the page images at 100% scale with Tesseract's invisible text on top.

img2pdf places each page as a JPEG without re-encoding it (page size = pixels / dpi * 72), pikepdf lays
the text-only page from Tesseract over it as a form XObject and adds what PDF/A-2b needs: the
identification of protocol/pdfa.py (XMP agreeing with Info, with the document's metadata; an sRGB
OutputIntent; the language) and a trailer /ID. No Ghostscript: it would re-encode the images.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import img2pdf
import numpy as np
import pikepdf

from protocol import pdfa
from protocol.clock import VN_TZ
from protocol.durable import write_atomic
from protocol.errors import UserError
from protocol.hashing import sha256_bytes
from protocol.i18n import N_
from station.processing.pipeline import encode_jpeg, is_image_layer

log = logging.getLogger(__name__)

PRODUCER = "sohoa (img2pdf, pikepdf, Tesseract)"


@dataclass(frozen=True)
class PdfPage:
    image_path: Path
    dpi: float
    text_pdf: bytes | None  # Tesseract's text-only page for this image, or None when OCR failed
    jpeg: bytes | None = None  # the image layer from `page_layer_and_grey` (in an OCR worker); else made here


@dataclass(frozen=True)
class PdfMeta:
    title: str  # trích yếu
    doc_id: str
    doc_code: str
    agency: str
    created: datetime
    language: str = "vi"


@dataclass(frozen=True)
class PdfInfo:
    page_count: int
    size: int
    sha256: str  # upper-case hex


class PdfBuildError(UserError):
    """A page set that cannot become a PDF/A (unreadable image, no text layer); the message says which."""

    key = "pdf"


#: /PieceInfo key marking our OCR text layer (shared with protocol.pdfa_check).
TEXT_LAYER_APP = "/SohoaOCR"


def _page_bytes(image_path: Path) -> bytes:
    try:
        return Path(image_path).read_bytes()
    except OSError as exc:
        raise PdfBuildError(N_("cannot read page image %(image_path)s"), image_path=image_path) from exc


def _colour(data: bytes, image_path: Path) -> np.ndarray:
    """A page image as 8-bit BGR (grey, 16-bit and alpha images converted), EXIF orientation ignored."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise PdfBuildError(N_("cannot read page image %(image_path)s"), image_path=image_path)
    return image


def page_layer(image_path: Path, *, dpi: float) -> bytes:
    """The page's image layer as JPEG bytes: a derivative the station wrote is the layer already
    (`is_image_layer`) and goes into the PDF unchanged; any other image is decoded and encoded."""
    data = _page_bytes(image_path)
    return data if is_image_layer(data) else encode_jpeg(_colour(data, image_path), dpi=dpi)


def page_layer_and_grey(image_path: Path, *, dpi: float) -> tuple[bytes, np.ndarray]:
    """`page_layer` and the page's 8-bit luma for Tesseract, from one read. Of a derivative only the luma is
    decoded (no chroma work, no second JPEG generation); any other image is decoded once as colour and its
    grey has the JPEG's own luma weights (0.299, 0.587, 0.114)."""
    data = _page_bytes(image_path)
    if is_image_layer(data):
        luma = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if luma is None:
            raise PdfBuildError(N_("cannot read page image %(image_path)s"), image_path=image_path)
        return data, luma
    image = _colour(data, image_path)
    return encode_jpeg(image, dpi=dpi), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _jpeg(page: PdfPage) -> bytes:
    return page.jpeg if page.jpeg is not None else page_layer(page.image_path, dpi=page.dpi)


def _overlay_text(pdf: pikepdf.Pdf, page: pikepdf.Page, text_pdf: bytes | None) -> None:
    """Lay Tesseract's text page over the image page, scaled to the same box (both come from the DPI).

    Every page gets the layer, marked in /PieceInfo: a page where OCR found no text (a map, a photo) or
    failed still says "OCR layer here, empty", which the checker tells apart from a page never OCRed.
    """
    box = [float(v) for v in page.mediabox]
    if text_pdf:
        with pikepdf.open(io.BytesIO(text_pdf)) as text_doc:
            form = pdf.copy_foreign(text_doc.pages[0].as_form_xobject())
    else:
        form = pdf.make_stream(
            b"",
            Type=pikepdf.Name.XObject,
            Subtype=pikepdf.Name.Form,
            BBox=pikepdf.Array(box),
            Resources=pikepdf.Dictionary(),
        )
    empty = not any(str(i.operator) in ("Tj", "TJ", "'", '"') for i in pikepdf.parse_content_stream(form))
    form.PieceInfo = pikepdf.Dictionary(
        {
            TEXT_LAYER_APP: pikepdf.Dictionary(
                LastModified=pikepdf.String(pdfa.pdf_date(datetime.now(VN_TZ))),
                Private=pikepdf.Dictionary(TextLayer=True, Empty=empty),
            )
        }
    )
    page.add_overlay(form, pikepdf.Rectangle(*box))


def build_pdfa_bytes(pages: list[PdfPage], *, meta: PdfMeta) -> bytes:
    if not pages:
        raise PdfBuildError(N_("a document needs at least one page"))
    jpegs, layouts = [], []
    for page in pages:
        jpegs.append(_jpeg(page))
        layouts.append(page.dpi)
    # One fixed-DPI layout per page would need one img2pdf call per page; pages of a document share the
    # capture DPI, and a mixed document is refused rather than silently scaled.
    if len(set(layouts)) != 1:
        raise PdfBuildError(
            N_("pages have different DPI: %(layouts)s"), layouts=sorted(set(layouts))
        )
    dpi = layouts[0]
    raw = img2pdf.convert(jpegs, layout_fun=img2pdf.get_fixed_dpi_layout_fun((dpi, dpi)), with_pdfrw=False, nodate=True)
    with pikepdf.open(io.BytesIO(raw)) as pdf:
        for pdf_page, source in zip(pdf.pages, pages, strict=True):
            _overlay_text(pdf, pdf_page, source.text_pdf)
        keywords = f"{meta.doc_id} {meta.doc_code}"
        pdfa.identify(pdf, title=meta.title, author=meta.agency, when=meta.created, tool=PRODUCER,
                      language=meta.language, subject=meta.title, keywords=keywords, identifier=meta.doc_id,
                      source=meta.doc_code)
        out = io.BytesIO()
        pdf.save(
            out,
            fix_metadata_version=True,
            force_version="1.7",
            deterministic_id=False,
            object_stream_mode=pikepdf.ObjectStreamMode.generate,
        )
    return out.getvalue()


def build_pdfa(pages: list[PdfPage], *, out: Path, meta: PdfMeta) -> PdfInfo:
    """Write the document's PDF/A-2b to `out` atomically and return its page count, size and SHA-256."""
    data = build_pdfa_bytes(pages, meta=meta)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, data)
    info = PdfInfo(page_count=len(pages), size=len(data), sha256=sha256_bytes(data))
    log.info("wrote %s: %d pages, %d bytes", out, info.page_count, info.size)
    return info
