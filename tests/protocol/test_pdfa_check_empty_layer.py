"""A page where OCR found no text keeps a marked, empty text layer; a page never OCRed still fails CAP-02."""

from __future__ import annotations

import img2pdf
import numpy as np
from PIL import Image

from protocol.clock import now_vn
from protocol.pdfa_check import check_pdfa
from station.output.pdfa import PdfMeta, PdfPage, build_pdfa


def _image(tmp_path):
    pixels = np.full((1169, 827, 3), 210, np.uint8)
    pixels[200:400, 200:600] = (20, 40, 200)  # a coloured shape: no text at all (a map, a photo)
    path = tmp_path / "map.png"
    Image.fromarray(pixels).save(path, dpi=(200, 200))
    return path


def _meta():
    return PdfMeta(title="Bản đồ", doc_id="X.1", doc_code="X.0000001", agency="UBND", created=now_vn())


def test_empty_ocr_layer_passes(tmp_path):
    out = tmp_path / "map.pdf"
    build_pdfa([PdfPage(image_path=_image(tmp_path), dpi=200, text_pdf=None)], out=out, meta=_meta())
    assert not [p for p in check_pdfa(out) if "CAP-02" in p]


def test_page_without_any_layer_fails(tmp_path):
    out = tmp_path / "plain.pdf"
    out.write_bytes(img2pdf.convert(str(_image(tmp_path))))
    problems = check_pdfa(out)
    assert any("no invisible OCR text layer" in p for p in problems)
    assert [p for p in problems if "CAP-02" in p]  # the probe of the test above sees a missing layer
