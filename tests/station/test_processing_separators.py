"""Separator and cover sheets: payloads, the printed PDF read back through pdftoppm, and the pipeline's verdict."""

from __future__ import annotations

import shutil
import subprocess

import cv2
import numpy as np
import pytest

from sohoa.cli import main
from station.processing import separators, steps
from station.processing.config import ProcessingConfig
from station.processing.pipeline import process_page
from station.review import SEPARATOR_PREFIX

CODE = "H01.12.03/2024-0001"


def test_payloads_round_trip_and_foreign_codes_are_ignored():
    assert separators.parse(separators.cover_payload(CODE)) == separators.Sheet("cover", CODE)
    assert separators.parse(separators.separator_payload()) == separators.Sheet("separator")
    assert separators.parse(separators.separator_payload(CODE)) == separators.Sheet("separator", CODE)
    assert separators.parse("SOHOA:COVER:v1:A:B") == separators.Sheet("cover", "A:B")
    assert separators.parse("SOHOA:SEP:v1") == separators.Sheet("separator")
    for other in ("https://example.vn/vb/12", "SOHOA-SEP:v9", "SOHOA-COVER:v1", "sohoa"):
        assert separators.parse(other) is None, other
    assert separators.separator_payload().startswith(SEPARATOR_PREFIX), "review.py splits on this prefix"
    assert separators.parse_any(["x", separators.separator_payload(), separators.cover_payload(CODE)]).kind == "cover"
    with pytest.raises(separators.SheetError):
        separators.cover_payload("Hồ sơ 1")


def _pdftoppm(pdf, tmp_path, dpi: int = 150) -> list:
    exe = shutil.which("pdftoppm")
    assert exe, "pdftoppm missing: apt-get install poppler-utils"
    subprocess.run([exe, "-r", str(dpi), "-gray", str(pdf), str(tmp_path / "p")], check=True, timeout=60)
    return sorted(tmp_path.glob("p-*.pgm"))


def test_sheets_cli_pdf_reads_back_and_the_pipeline_sees_the_sheets(tmp_path, capsys):
    pdf = tmp_path / "sheets.pdf"
    assert (
        main(
            [
                "sheets",
                "--file-code",
                CODE,
                "--title",
                "Hồ sơ về việc ban hành quy chế lưu trữ",
                "--sheets",
                "12",
                "--separators",
                "2",
                "-o",
                str(pdf),
            ]
        )
        == 0
    )
    assert "2 separator" in capsys.readouterr().out
    pages = _pdftoppm(pdf, tmp_path)
    assert len(pages) == 3
    found = [steps.find_qr(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), dpi=150) for p in pages]
    assert found == [[separators.cover_payload(CODE)]] + [[separators.separator_payload(CODE)]] * 2
    # the pipeline on a scan of the cover (here: upside down, as a sheet may be fed)
    cover = cv2.rotate(cv2.imread(str(pages[0])), cv2.ROTATE_180)
    src = tmp_path / "cover.png"
    cv2.imwrite(str(src), cover)
    result = process_page(src, dpi=150, out_path=tmp_path / "cover.jpg")
    assert result.cover == CODE and not result.separator and not result.blank
    # the sheet is turned upright by its own code, not by OSD (a sheet has few words to read)
    assert result.rotation == 180 and result.rotation_method == "qr"
    sep = process_page(pages[1], dpi=150, out_path=tmp_path / "sep.jpg")
    assert sep.separator and sep.cover is None


def test_sheets_cli_rejects_a_bad_code(tmp_path, capsys):
    assert main(["sheets", "--file-code", "  ", "-o", str(tmp_path / "x.pdf")]) == 2
    assert "file code" in capsys.readouterr().err


def test_a_sheet_fed_sideways_is_turned_by_its_code(tmp_path):
    sheet = np.array(separators.render_sheet(separators.Sheet("separator", CODE), index=2, dpi=150))
    for turn, code in ((90, cv2.ROTATE_90_CLOCKWISE), (270, cv2.ROTATE_90_COUNTERCLOCKWISE)):
        src = tmp_path / f"sep{turn}.png"
        cv2.imwrite(str(src), cv2.cvtColor(cv2.rotate(sheet, code), cv2.COLOR_GRAY2BGR))
        codes = steps.find_qr_codes(cv2.imread(str(src)), dpi=150)
        assert codes and all(c.upright == (360 - turn) % 360 for c in codes)
        result = process_page(src, dpi=150, out_path=tmp_path / f"sep{turn}.jpg", config=ProcessingConfig(min_dpi=100))
        assert result.separator and result.rotation == (360 - turn) % 360 and result.rotation_method == "qr"
        out = cv2.imread(result.derivative_path, cv2.IMREAD_GRAYSCALE)
        assert out.shape[0] > out.shape[1], "portrait again"
