"""build_pdfa: two layers, PDF/A-2b as our checker sees it, true page size, metadata in the XMP."""

from __future__ import annotations

import subprocess
from datetime import datetime

import pikepdf
import pytest

from protocol.clock import VN_TZ
from protocol.hashing import sha256_file
from protocol.pdfa_check import check_pdfa
from sohoa.samplepages import char_error_rate, write_sample_folder
from station.output.ocr import ocr_page
from station.output.pdfa import PdfBuildError, PdfMeta, PdfPage, build_pdfa

META = PdfMeta(title="Về việc phê duyệt kế hoạch chỉnh lý tài liệu", doc_id="000.00.00.H47.2001.160.VP.1",
               doc_code="000.00.00.H47.2001.160.VP.0000001", agency="Ủy ban nhân dân tỉnh Đồng Nai",
               created=datetime(2026, 3, 4, 14, 5, 9, tzinfo=VN_TZ))


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdfa")
    images = write_sample_folder(folder / "img", count=2, seed=40, dpi=300)
    ocrs = [ocr_page(image, dpi=300) for image in images]
    out = folder / f"{META.doc_id}.pdf"
    info = build_pdfa([PdfPage(i, 300, o.text_pdf) for i, o in zip(images, ocrs, strict=True)], out=out,
                      meta=META)
    return out, info, ocrs


def test_passes_the_checker(document):
    out, info, _ = document
    assert check_pdfa(out) == []
    assert info.page_count == 2 and info.size == out.stat().st_size and info.sha256 == sha256_file(out)
    print(f"\nPDF/A: {info.size / info.page_count / 1024:.0f} KiB per A4 300 dpi colour page")
    assert info.size / info.page_count < 900_000
    assert not list(out.parent.glob(".*.part"))


def test_pdftotext_gives_the_ocr_text(document):
    out, _, ocrs = document
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    pages = text.split("\f")
    for page_text, ocr in zip(pages, ocrs, strict=False):
        assert char_error_rate(ocr.text, page_text) < 0.02


def test_page_size_images_and_metadata(document):
    out, _, _ = document
    with pikepdf.open(out) as pdf:
        assert pdf.pdf_version == "1.7"
        for page in pdf.pages:
            box = [float(v) for v in page.mediabox]
            assert abs(box[2] - 2480 / 300 * 72) < 0.5 and abs(box[3] - 3508 / 300 * 72) < 0.5
        images = [obj for obj in pdf.objects if isinstance(obj, pikepdf.Stream)
                  and obj.stream_dict.get("/Subtype") == "/Image"]
        assert len(images) == 2
        for image in images:
            d = image.stream_dict
            assert d.Filter == "/DCTDecode" and d.ColorSpace == "/DeviceRGB" and d.BitsPerComponent == 8
        meta = pdf.open_metadata()
        assert meta["pdfaid:part"] == "2" and meta["pdfaid:conformance"] == "B"
        assert meta["dc:title"] == META.title and meta["dc:identifier"] == META.doc_id
        assert meta["xmp:CreateDate"] == "2026-03-04T14:05:09+07:00"
        assert str(pdf.docinfo.CreationDate) == "D:20260304140509+07'00'"


def test_page_without_ocr_text_gets_an_empty_marked_layer(tmp_path):
    """OCR that found nothing (or failed) still leaves a layer marked empty, which the checker accepts;
    a PDF whose page never had an OCR layer at all is reported (CAP-02)."""
    import img2pdf

    [image] = write_sample_folder(tmp_path / "img", count=1, seed=41, dpi=200)
    out = tmp_path / "no-text.pdf"
    build_pdfa([PdfPage(image, 200, None)], out=out, meta=META)
    assert check_pdfa(out) == []
    with pikepdf.open(out) as pdf:
        forms = [x for x in pdf.pages[0].Resources.XObject.values() if x.get("/Subtype") == "/Form"]
        assert any(bool(f.PieceInfo.SohoaOCR.Private.Empty) for f in forms if "/PieceInfo" in f)
    bare = tmp_path / "bare.pdf"
    bare.write_bytes(img2pdf.convert(str(image)))
    assert "page 1: no invisible OCR text layer (render mode 3) (CAP-02)" in check_pdfa(bare)


def test_refuses_empty_and_mixed_dpi(tmp_path):
    with pytest.raises(PdfBuildError):
        build_pdfa([], out=tmp_path / "x.pdf", meta=META)
    a = write_sample_folder(tmp_path / "a", count=1, seed=1, dpi=200)[0]
    b = write_sample_folder(tmp_path / "b", count=1, seed=2, dpi=300)[0]
    with pytest.raises(PdfBuildError) as err:
        build_pdfa([PdfPage(a, 200, None), PdfPage(b, 300, None)], out=tmp_path / "x.pdf", meta=META)
    assert "độ phân giải" in err.value.text("vi")
    assert not (tmp_path / "x.pdf").exists()
