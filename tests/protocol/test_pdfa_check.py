"""check_pdfa finds what breaks PDF/A-2b or the capture rules, and passes our own documents."""

from __future__ import annotations

from datetime import datetime

import pikepdf
import pytest

from protocol.clock import VN_TZ
from protocol.pdfa_check import check_pdfa
from sohoa.samplepages import write_sample_folder
from station.output.ocr import ocr_page
from station.output.pdfa import PdfMeta, PdfPage, build_pdfa

META = PdfMeta(title="Báo cáo thử", doc_id="Y.1", doc_code="Y.0000001", agency="Sở Nội vụ",
               created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=VN_TZ))


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    [image] = write_sample_folder(folder, count=1, seed=77, dpi=300)
    out = folder / "good.pdf"
    build_pdfa([PdfPage(image, 300, ocr_page(image, dpi=300).text_pdf)], out=out, meta=META)
    assert check_pdfa(out) == []
    return out


def broken(good, tmp_path, change) -> list[str]:
    out = tmp_path / "broken.pdf"
    with pikepdf.open(good) as pdf:
        change(pdf)
        pdf.save(out)
    return check_pdfa(out)


def has(problems: list[str], words: str) -> bool:
    return any(words in p for p in problems)


def test_no_xmp(good, tmp_path):
    def change(pdf):
        del pdf.Root.Metadata
    assert has(broken(good, tmp_path, change), "no /Metadata")


def test_wrong_pdfaid_and_info_mismatch(good, tmp_path):
    def change(pdf):
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as xmp:
            xmp["pdfaid:part"] = "1"
        pdf.docinfo.Title = "Khác"
    problems = broken(good, tmp_path, change)
    assert has(problems, "pdfaid:part is '1'") and has(problems, "Info /Title")


def test_missing_output_intent(good, tmp_path):
    def change(pdf):
        del pdf.Root.OutputIntents
    assert has(broken(good, tmp_path, change), "no GTS_PDFA1 output intent")


def test_greyscale_image(good, tmp_path):
    def change(pdf):
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Stream) and obj.stream_dict.get("/Subtype") == "/Image":
                grey = bytes(int(obj.Width) * int(obj.Height))
                obj.write(grey)
                obj.ColorSpace = pikepdf.Name.DeviceGray
    assert has(broken(good, tmp_path, change), "not RGB (CAP-05")


def test_150_dpi_page(tmp_path):
    [image] = write_sample_folder(tmp_path / "img", count=1, seed=3, dpi=150)
    out = tmp_path / "low.pdf"
    build_pdfa([PdfPage(image, 150, ocr_page(image, dpi=150).text_pdf)], out=out, meta=META)
    assert check_pdfa(out) == ["page 1: image resolution 150 dpi is below 200 (CAP-06)"]


def test_downscaled_page_is_not_100_percent(good, tmp_path):
    def change(pdf):
        page = pdf.pages[0]
        page.MediaBox = [0, 0, float(page.MediaBox[2]) * 2, float(page.MediaBox[3]) * 2]
    assert has(broken(good, tmp_path, change), "100% scale (CAP-07)")


def test_unembedded_font_javascript_and_encryption(good, tmp_path):
    def change(pdf):
        font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                    BaseFont=pikepdf.Name.Helvetica))
        pdf.pages[0].Resources.Font = pikepdf.Dictionary(F9=font)
        pdf.Root.OpenAction = pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Action, S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)")))
    problems = broken(good, tmp_path, change)
    assert has(problems, "font /Helvetica is not embedded") and has(problems, "JavaScript")
    out = tmp_path / "enc.pdf"
    with pikepdf.open(good) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(owner="o", user="", R=6))
    assert has(check_pdfa(out), "encrypted")


def test_not_a_pdf(tmp_path):
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"hello")
    assert check_pdfa(bad)


def test_signed_file_resaved_is_caught(tmp_path, signed_pdf):
    assert check_pdfa(signed_pdf) == []
    resaved = tmp_path / "resaved.pdf"
    with pikepdf.open(signed_pdf) as pdf:
        pdf.save(resaved)
    assert has(check_pdfa(resaved), "re-saved after signing")
    appended = tmp_path / "appended.pdf"
    appended.write_bytes(signed_pdf.read_bytes() + b"\n% later change\n%%EOF\n")
    assert has(check_pdfa(appended), "does not cover the end of the file")
