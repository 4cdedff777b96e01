"""Tesseract `vie` on generated administrative pages: accuracy, NFC text, the text-only PDF page."""

from __future__ import annotations

import io
import time

import pikepdf
import pytest

from sohoa.samplepages import char_error_rate, word_error_rate, write_sample_folder
from station.output.ocr import OcrError, ocr_page, tesseract_version


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    [path] = write_sample_folder(tmp_path_factory.mktemp("ocr"), count=1, seed=21, dpi=300, with_text=True)
    return path, path.with_suffix(".txt").read_text(encoding="utf-8")


def test_tesseract_with_vietnamese_is_installed():
    assert tesseract_version().startswith("tesseract 5"), "install tesseract-ocr 5"


def test_ocr_text_is_accurate_and_nfc(page):
    path, truth = page
    started = time.perf_counter()
    result = ocr_page(path, dpi=300)
    elapsed = time.perf_counter() - started
    cer, wer = char_error_rate(truth, result.text), word_error_rate(truth, result.text)
    print(f"\nOCR 300 dpi: CER {cer:.4%}, WER {wer:.4%}, conf {result.mean_confidence:.1f}, {elapsed:.2f} s")
    assert cer <= 0.01, result.text
    assert result.words > 150 and result.mean_confidence > 85
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in result.text


def test_text_pdf_is_sized_from_the_dpi(page):
    path, _ = page
    for dpi, width in ((300, 595.2), (150, 1190.4)):  # the same pixels at half the dpi: twice the page
        result = ocr_page(path, dpi=dpi)
        with pikepdf.open(io.BytesIO(result.text_pdf)) as pdf:
            box = [float(v) for v in pdf.pages[0].mediabox]
            assert abs(box[2] - width) < 1, box
            assert b"3 Tr" in pdf.pages[0].Contents.read_bytes()


def test_missing_image_and_timeout_raise_ocr_error(page, tmp_path):
    with pytest.raises(OcrError) as err:
        ocr_page(tmp_path / "nothing.png", dpi=300)
    assert err.value.text("vi")
    with pytest.raises(OcrError, match="timed out"):
        ocr_page(page[0], dpi=300, timeout=0.05)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(OcrError):
        ocr_page(broken, dpi=300)
