"""Orientation keeps a page as scanned unless two independent signals agree (real Tesseract OSD and OCR).

The pages are the bench's page classes the line rule got wrong; bench/bench_orientation.py measures the rule
on OCRmyPDF's and scikit-image's pages as well (outside data, fetched with pip)."""

from __future__ import annotations

import cv2
from test_processing_pagegen import render_page

from bench.orientation_evalset import draw_page
from station.output.tessworker import engine
from station.processing.config import ProcessingConfig
from station.processing.orientation import summary
from station.processing.pipeline import process_image
from tests.support.tesseract import stop_and_kill_when_asked

DPI = 200


def _codes(result) -> list[str]:
    return [f["code"] for f in result.flags]


def test_upright_ruled_form_is_kept(tmp_path):
    """Ruled lines under the text used to read as descenders and call an upright form upside down."""
    result = process_image(draw_page("form", 0), dpi=DPI, out_path=tmp_path / "form.jpg")
    assert result.rotation == 0 and "auto_rotated" not in _codes(result)
    assert result.rotation_evidence["lines"].get("rotation") != 180


def test_turned_form_is_put_right_by_two_signals_and_flagged_for_a_check(tmp_path):
    page = cv2.rotate(draw_page("form", 0), cv2.ROTATE_90_COUNTERCLOCKWISE)  # lies at 270°: needs 90°
    result = process_image(page, dpi=DPI, out_path=tmp_path / "form.jpg")
    assert result.rotation == 90
    assert result.rotation_method in ("lines+osd", "osd+words", "lines+words")
    assert "auto_rotated" in _codes(result), "an automatic turn is shown to the operator"
    assert cv2.imread(str(tmp_path / "form.jpg")).shape[0] > cv2.imread(str(tmp_path / "form.jpg")).shape[1]
    line = summary(result.rotation_method, result.rotation_evidence)
    assert line.startswith(result.rotation_method) and "osd 90" in line
    assert result.rotation_evidence["osd"]["look"] in ("quick", "full")


def test_a_turned_text_page_is_confirmed_by_the_quick_osd_look(tmp_path):
    """OSD on the middle quarter with fewer characters confirms the line rule on a full page of text: the whole
    page (about three times the CPU) is not read."""
    page, _ = render_page(seed=75, dpi=DPI, rotate=180, noise=3.0)
    result = process_image(page, dpi=DPI, out_path=tmp_path / "p.jpg")
    assert result.rotation == 180 and result.rotation_method == "lines+osd"
    assert result.rotation_evidence["osd"]["look"] == "quick", result.rotation_evidence


def test_a_crash_of_osds_tesseract_costs_that_look_only(tmp_path):
    """OSD's Tesseract stays loaded in a child process; the child dies during the quick look: that look has no
    answer, the page is not turned on it, and the whole-page look gets a new child that answers."""
    page, _ = render_page(seed=75, dpi=DPI, rotate=180, noise=3.0)
    process_image(page, dpi=DPI, out_path=tmp_path / "first.jpg")  # loads the child
    with engine("osd") as loaded:
        first = stop_and_kill_when_asked(loaded)  # it takes the quick look's page and dies
    result = process_image(page, dpi=DPI, out_path=tmp_path / "p.jpg")
    assert result.rotation_evidence["osd"]["look"] == "full", result.rotation_evidence
    assert result.rotation == 180 and result.rotation_method == "lines+osd"
    with engine("osd") as loaded:
        assert loaded.proc.pid != first


def test_osd_past_its_timeout_at_every_look_leaves_the_page_as_scanned_and_flagged(tmp_path):
    """Every Tesseract ask runs past its timeout (each loaded child is killed): the line rule alone proposes the
    turn, nothing confirms it, the page is kept as scanned and flagged."""
    page, _ = render_page(seed=75, dpi=DPI, rotate=180, noise=3.0)
    with engine("osd") as loaded:
        first = loaded.proc.pid
    result = process_image(page, dpi=DPI, out_path=tmp_path / "p.jpg", config=ProcessingConfig(osd_timeout_s=0.001))
    assert result.rotation_evidence["lines"]["rotation"] == 180
    assert result.rotation_evidence["osd"] == {"rotation": 0, "confidence": 0.0, "look": "full"}
    assert result.rotation == 0 and "orientation_uncertain" in _codes(result)
    with engine("osd") as loaded:
        assert loaded.proc.pid != first, "the child that ran past its timeout was killed"


def test_line_rule_alone_does_not_turn_a_page(tmp_path):
    """Without Tesseract there is one signal: an upside-down page is flagged, not turned."""
    page = cv2.rotate(draw_page("two_columns", 1), cv2.ROTATE_180)
    config = ProcessingConfig(orientation_osd_fallback=False)
    result = process_image(page, dpi=DPI, out_path=tmp_path / "p.jpg", config=config)
    assert result.rotation_evidence["lines"]["rotation"] == 180
    assert result.rotation == 0 and "orientation_uncertain" in _codes(result)


def test_photograph_is_never_turned(tmp_path):
    for turn in (cv2.ROTATE_180, cv2.ROTATE_90_CLOCKWISE):
        result = process_image(cv2.rotate(draw_page("photo", 2), turn), dpi=DPI, out_path=tmp_path / "photo.jpg")
        assert result.rotation == 0, result.rotation_evidence
