"""A page's share of finishing in a worker: grey image to Tesseract, colour JPEG image layer, one read."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest
from PIL import Image

from protocol.clock import VN_TZ
from protocol.pdfa_check import check_pdfa
from sohoa.samplepages import char_error_rate, write_sample_folder
from station.output.ocr import ocr_page, pgm_bytes, read_grey
from station.output.pages import finish_page
from station.output.pdfa import PdfBuildError, PdfMeta, PdfPage, build_pdfa_bytes
from station.processing.pipeline import (
    EARLIER_LAYER_QUALITIES,
    JPEG_QUALITY,
    encode_jpeg,
    is_image_layer,
    process_page,
)

META = PdfMeta(
    title="Thử trang",
    doc_id="P.1",
    doc_code="P.0000001",
    agency="Sở Nội vụ",
    created=datetime(2026, 3, 4, 14, 5, 9, tzinfo=VN_TZ),
)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    [path] = write_sample_folder(tmp_path_factory.mktemp("pages"), count=1, seed=31, dpi=300, with_text=True)
    return path, path.with_suffix(".txt").read_text(encoding="utf-8")


def test_finish_page_reads_the_text_and_makes_the_image_layer(page):
    path, truth = page
    done = finish_page(path, dpi=300)
    assert done.ok and done.error == ""
    assert char_error_rate(truth, done.text) <= 0.01, done.text
    assert done.confidence > 85 and done.text_pdf.startswith(b"%PDF")
    assert 0 < done.ocr_seconds < done.seconds
    with Image.open(io.BytesIO(done.jpeg)) as layer, Image.open(path) as original:
        assert layer.format == "JPEG" and layer.mode == "RGB" and layer.size == original.size
        assert tuple(round(v) for v in layer.info["dpi"]) == (300, 300)
        # the same picture, only JPEG-compressed (JPEG_QUALITY): a small mean difference, no shift or colour swap
        diff = np.abs(np.asarray(layer, dtype=np.int16) - np.asarray(original.convert("RGB"), dtype=np.int16))
        assert diff.mean() < 4, diff.mean()


def test_grey_through_the_pipe_reads_as_the_file_does(page):
    path, truth = page
    grey = read_grey(path)
    assert grey.ndim == 2 and grey.dtype == np.uint8
    header = pgm_bytes(grey)[:20]
    assert header.startswith(f"P5\n{grey.shape[1]} {grey.shape[0]}\n255\n".encode())
    assert char_error_rate(truth, ocr_page(path, dpi=300).text) <= 0.01
    with pytest.raises(ValueError):
        pgm_bytes(np.zeros((4, 4, 3), dtype=np.uint8))


def test_the_worker_jpeg_goes_into_the_pdf_unchanged(page):
    path, _ = page
    done = finish_page(path, dpi=300)
    data = build_pdfa_bytes([PdfPage(path, 300, done.text_pdf, jpeg=done.jpeg)], meta=META)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        [image] = [
            obj
            for obj in pdf.objects
            if isinstance(obj, pikepdf.Stream) and obj.stream_dict.get("/Subtype") == "/Image"
        ]
        assert image.read_raw_bytes() == done.jpeg  # not decoded and encoded again in the main process
        assert image.ColorSpace == "/DeviceRGB" and image.Filter == "/DCTDecode"


def test_grey_and_16_bit_pages_still_get_an_rgb_layer(tmp_path, page):
    path, _ = page
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), grey.astype(np.uint16) * 257)  # a 16-bit grey capture
    done = finish_page(deep, dpi=300)
    assert done.ok and "CỘNG HÒA" in done.text.upper()
    with Image.open(io.BytesIO(done.jpeg)) as layer:
        assert layer.mode == "RGB"  # CAP-05: colour at 8 bits per component, even for a grey original
        assert abs(np.asarray(layer.convert("L"), dtype=np.int16).mean() - grey.mean()) < 3  # not clipped white
    out = tmp_path / "grey.pdf"
    out.write_bytes(build_pdfa_bytes([PdfPage(deep, 300, done.text_pdf, jpeg=done.jpeg)], meta=META))
    assert check_pdfa(out) == []
    assert is_image_layer(encode_jpeg(grey, dpi=300))  # a grey capture's derivative is a colour layer too


def test_ocr_failure_keeps_the_image_and_unreadable_image_is_an_error(tmp_path, page):
    path, _ = page
    failed = finish_page(path, dpi=300, timeout=0.05)
    assert not failed.ok and "timed out" in failed.error and failed.text_pdf is None
    with Image.open(io.BytesIO(failed.jpeg)) as layer:
        assert layer.format == "JPEG"  # the page is still archived, its OCR flagged as failed
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(PdfBuildError) as err:
        finish_page(broken, dpi=300)
    assert "Không đọc được ảnh trang" in err.value.text("vi")
    assert JPEG_QUALITY == 90  # chosen on outside pages with transcriptions: bench/bench_derivative_ocr.py


def test_the_derivative_is_the_image_layer_and_goes_into_the_pdf_byte_for_byte(tmp_path, page):
    path, truth = page
    result = process_page(path, dpi=300, out_path=tmp_path / "derived.jpg")
    stored = (tmp_path / "derived.jpg").read_bytes()
    assert is_image_layer(stored)
    done = finish_page(tmp_path / "derived.jpg", dpi=300)
    assert done.jpeg == stored  # not decoded and encoded again: one JPEG generation, as review showed it
    assert done.ok and char_error_rate(truth, done.text) <= 0.01, done.text
    with Image.open(io.BytesIO(done.jpeg)) as layer:
        assert layer.mode == "RGB" and tuple(round(v) for v in layer.info["dpi"]) == (300, 300)
    out = tmp_path / "doc.pdf"
    out.write_bytes(build_pdfa_bytes([PdfPage(Path(result.derivative_path), 300, done.text_pdf)], meta=META))
    assert check_pdfa(out) == []
    with pikepdf.open(out) as pdf:
        images = [o for o in pdf.objects if isinstance(o, pikepdf.Stream) and o.stream_dict.get("/Subtype") == "/Image"]
        [image] = images
        assert image.read_raw_bytes() == stored


def test_other_images_are_not_taken_as_a_layer(tmp_path, page):
    path, _ = page
    colour = cv2.imread(str(path))
    q95 = cv2.imencode(".jpg", colour, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()  # a derivative from before
    assert not is_image_layer(q95) and not is_image_layer(path.read_bytes()) and not is_image_layer(b"")
    # a camera JPEG at the same quality but with EXIF (its orientation would be applied by a PDF writer)
    from PIL import Image as PILImage

    buf = io.BytesIO()
    exif = PILImage.Exif()
    exif[0x0112] = 6
    PILImage.open(io.BytesIO(encode_jpeg(colour, dpi=300))).save(buf, "JPEG", quality=JPEG_QUALITY, exif=exif)
    assert not is_image_layer(buf.getvalue())
    old = tmp_path / "old.jpg"
    old.write_bytes(q95)
    done = finish_page(old, dpi=300)
    assert is_image_layer(done.jpeg) and done.jpeg != q95  # encoded as the layer, not embedded at q95


def test_a_layer_written_at_an_earlier_quality_is_embedded_as_it_is(tmp_path, page):
    """Pages captured before an upgrade (q80 layers) are not decoded and encoded again at finishing."""
    path, truth = page
    colour = cv2.imread(str(path))
    [earlier] = EARLIER_LAYER_QUALITIES
    q80 = encode_jpeg(colour, dpi=300, quality=earlier)
    assert q80 != encode_jpeg(colour, dpi=300) and is_image_layer(q80)
    old = tmp_path / "old.jpg"
    old.write_bytes(q80)
    done = finish_page(old, dpi=300)
    assert done.jpeg == q80 and done.ok and char_error_rate(truth, done.text) <= 0.01
    # a quality this project never wrote as a layer is still re-encoded
    q70 = encode_jpeg(colour, dpi=300, quality=70)
    assert not is_image_layer(q70)
