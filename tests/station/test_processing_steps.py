"""Each image step alone, on synthetic scans with known skew, rotation, borders and blankness."""

from __future__ import annotations

import functools
import os

import cv2
import numpy as np
import pytest
from test_processing_pagegen import paper_size, render_page

from station.output.tessworker import engine
from station.processing import steps
from station.processing.config import ProcessingConfig
from tests.support.tesseract import stop_and_kill_when_asked

DPI = 200  # rendering is the slow part; 200 dpi keeps the suite quick and is the NĐ30 minimum


@functools.lru_cache(maxsize=64)
def page(**kw) -> np.ndarray:
    img, _ = render_page(dpi=kw.pop("dpi", DPI), **kw)
    img.setflags(write=False)
    return img


# -- skew ------------------------------------------------------------------------------------------


def _skew(img: np.ndarray):
    """The pipeline's estimate: skew_profile on the ~150 dpi grey copy."""
    return steps.skew_profile(steps.to_150(steps.gray(img), DPI))


@pytest.mark.parametrize("skew", [-3.0, -1.2, -0.5, 0.5, 1.7, 3.0])
def test_skew_profile_estimates_known_skew(skew):
    found = _skew(page(seed=11, skew_deg=skew, noise=5.0))
    assert found.angle is not None and abs(found.angle - skew) < 0.15, f"skew {skew}: estimated {found.angle}"


def test_skew_profile_on_page_lying_sideways_still_finds_fine_skew():
    found = _skew(page(seed=12, skew_deg=1.0, rotate=90))
    assert found.angle is not None and abs(found.angle - 1.0) < 0.15, found


def test_skew_profile_says_nothing_without_text():
    assert _skew(page(seed=13, blank=True, noise=4.0)).angle is None
    assert _skew(page(seed=13, noise=4.0)).angle is not None  # the same probe on a page with text


# -- borders ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("skew", [0.0, 1.5])
def test_remove_borders_keeps_the_whole_paper(skew):
    border = 12.0
    img = page(seed=21, border_mm=border, skew_deg=skew, noise=3.0)
    w, h = paper_size(DPI)
    b = round(border * DPI / 25.4)
    out, (x, y, bw, bh) = steps.remove_borders(img)
    assert out.shape[:2] == (bh, bw)
    if skew == 0.0:  # paper at (b+5, b+3) .. (b+5+w, b+3+h): all of it kept, nearly no lid
        assert x <= b + 5 and y <= b + 3 and x + bw >= b + 5 + w and y + bh >= b + 3 + h
        assert bw - w < 12 and bh - h < 12
    else:
        assert bw < img.shape[1] - b and bh < img.shape[0] - b
    # every text pixel of the input is still in the output (text lies ≥ 25 mm inside the paper)
    inset = round(10 * DPI / 25.4)
    ink_in = steps.ink_mask(steps.gray(img), delta=80, window=15)[b + inset : -b - inset, b + inset : -b - inset]
    ink_out = steps.ink_mask(steps.gray(out), delta=80, window=15)[inset:-inset, inset:-inset]
    assert abs(int(ink_out.sum()) - int(ink_in.sum())) < 0.02 * ink_in.sum()


def test_remove_borders_leaves_a_page_without_borders_alone():
    img = page(seed=22)
    out, box = steps.remove_borders(img)
    assert out is img and box == (0, 0, img.shape[1], img.shape[0])


def test_remove_borders_does_not_cut_dark_content_at_the_edge():
    img = page(seed=23).copy()
    img[:, : img.shape[1] // 6] = 20  # a dark photo along the left edge, on the paper
    img[200:400, 40:200] = 240  # with something light in it
    out, box = steps.remove_borders(img)
    assert box[0] == 0


# -- orientation -----------------------------------------------------------------------------------

SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "rotated", [pytest.param(0, marks=SLOW), 90, pytest.param(180, marks=SLOW), pytest.param(270, marks=SLOW)]
)
def test_detect_orientation(rotated):
    """Tesseract OSD: the fallback when the own method is unsure."""
    img = page(seed=31 + rotated, rotate=rotated, noise=4.0)
    rotation, confidence = steps.detect_orientation(img, dpi=DPI)
    assert rotation == (360 - rotated) % 360 and confidence > 1.5, (rotation, confidence)
    upright = steps.rotate(img, rotation)
    assert upright.shape[0] > upright.shape[1]


@pytest.mark.parametrize("rotated", [0, 90, 180, 270])
def test_own_orientation_method_without_osd(rotated):
    from station.processing.orientation import orient

    g = steps.gray(page(seed=36 + rotated, rotate=rotated, skew_deg=-1.1, noise=4.0, yellow=True))
    skew = steps.skew_profile(g)
    assert skew.angle is not None and abs(skew.angle + 1.1) < 0.15
    h, w = g.shape
    straight = cv2.warpAffine(g, steps.rotate_by_matrix(w, h, -skew.angle), steps.rotated_size(w, h, skew.angle),
                              borderValue=steps.edge_colour(g))  # as the pipeline straightens
    found = orient(straight, skew, dpi=DPI, use_osd=False)
    fix = (360 - rotated) % 360
    assert found.evidence["lines"]["rotation"] == fix, found
    # one signal never turns a page: upright is kept, a turned page is kept and marked uncertain
    assert (found.rotation, found.method, found.uncertain) == ((0, "lines", 0) if fix == 0 else (0, "none", fix))


def test_own_orientation_method_asks_osd_without_text_lines():
    from station.processing.orientation import orient

    g = steps.gray(page(seed=37, short="Kính gửi"))
    found = orient(g, steps.skew_profile(g), dpi=DPI, use_osd=False)
    assert found.method == "none" and found.rotation == 0


def test_osd_with_fewer_characters_gives_the_same_answer_less_surely():
    """The quick OSD look (orientation.QUICK_OSD_CHARACTERS) classifies fewer blobs: same turn, lower score."""
    from station.processing.orientation import QUICK_OSD_CHARACTERS

    img = page(seed=31 + 90, rotate=90, noise=4.0)
    full = steps.detect_orientation(img, dpi=DPI)
    quick = steps.detect_orientation(img, dpi=DPI, min_characters=QUICK_OSD_CHARACTERS)
    assert quick[0] == full[0] == 270
    assert 2.0 <= quick[1] < full[1], (quick, full)


def test_detect_orientation_on_blank_page_is_zero_and_unsure():
    rotation, confidence = steps.detect_orientation(page(seed=35, blank=True), dpi=DPI)
    assert rotation == 0 and confidence < 1.0


def test_rotate_quarter_turns():
    img = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert steps.rotate(img, 90).tolist() == [[3, 0], [4, 1], [5, 2]]
    assert np.array_equal(steps.rotate(steps.rotate(img, 90), 270), img)
    assert steps.rotate(img, 0) is img
    with pytest.raises(ValueError):
        steps.rotate(img, 45)


# -- blank pages -----------------------------------------------------------------------------------

BLANKS = {
    "white": dict(blank=True),
    "yellow_noise": dict(blank=True, yellow=True, noise=6.0),
    "bleed_through": dict(blank=True, bleed=True, yellow=True),
    "holes_staple_dust": dict(blank=True, holes=True, staple=True, dust=40),
    "everything_jpeg": dict(blank=True, yellow=True, bleed=True, holes=True, staple=True, dust=25, noise=5.0, jpeg=75),
}
CONTENT = {
    "short_line": dict(short="Trang này để trống"),
    "short_number": dict(short="Số: 12/QĐ-UBND"),
    "short_line_on_worn_paper": dict(short="Kính gửi", yellow=True, bleed=True, holes=True, dust=20, noise=5.0),
    "one_text_line": dict(lines=1),
    "full_page": dict(),
}


@pytest.mark.parametrize("name", list(BLANKS))
def test_blank_pages_are_blank(name):
    config = ProcessingConfig()
    score = steps.blank_score(page(seed=41, **BLANKS[name]), dpi=DPI)
    assert steps.is_blank(score, config), f"{name}: score {score}"


@pytest.mark.parametrize("name", list(CONTENT))
def test_pages_with_a_little_text_are_not_blank(name):
    config = ProcessingConfig()
    score = steps.blank_score(page(seed=42, **CONTENT[name]), dpi=DPI)
    assert not steps.is_blank(score, config), f"{name}: score {score}"
    assert score > 3 * config.blank_max_ink_mm2, f"{name}: too close to the threshold ({score})"


# -- quality ---------------------------------------------------------------------------------------


def _metrics(img: np.ndarray, tmp_path) -> dict:
    """The quality metrics as the pipeline measures them on a page (orientation and QR search off: quicker)."""
    from station.processing.pipeline import process_image

    config = ProcessingConfig(detect_orientation=False, find_qr=False)
    return process_image(img, dpi=DPI, out_path=tmp_path / "page.png", config=config).metrics


def test_quality_metrics_report_what_they_should(tmp_path):
    sharp = _metrics(page(seed=51), tmp_path)
    blurred = _metrics(page(seed=51, blur=2.5), tmp_path)
    assert sharp["effective_dpi"] == DPI and sharp["width_mm"] == pytest.approx(210, abs=1.0)
    assert sharp["channels"] == 3 and sharp["bit_depth"] == 8
    assert blurred["sharpness_text"] < sharp["sharpness_text"] / 3
    assert sharp["contrast"] > 150 and sharp["clipped_black"] < 0.01
    assert sharp["residual_skew_deg"] is not None and abs(sharp["residual_skew_deg"]) < 0.15
    assert max(sharp["edge_content"].values()) == 0.0
    dark = (page(seed=51).astype(np.float32) * 0.3).astype(np.uint8)
    assert _metrics(dark, tmp_path)["contrast"] < 80
    skewed = _metrics(page(seed=51, skew_deg=1.0), tmp_path)
    assert abs(skewed["residual_skew_deg"]) < 0.15, "the pipeline straightened the page it measured"


def test_quality_metrics_see_content_cut_at_the_edge(tmp_path):
    cut = page(seed=52)[:, 230:]  # text starts 25 mm (197 px) from the left: cut into it
    assert _metrics(cut, tmp_path)["edge_content"]["left"] > 0.05
    assert _metrics(page(seed=52), tmp_path)["edge_content"]["left"] == 0.0  # the same probe, uncut


def test_a_line_along_the_edge_is_not_content_cut_off(tmp_path):
    """A real scan's paper edge (a thin dark line 2 mm in, slightly tilted after deskew) used to read as content
    touching the edge on clean pages; text cut at the edge still does."""
    img = page(seed=52).copy()
    mm = DPI / 25.4
    h, w = img.shape[:2]
    y0, y1 = round(2 * mm), round(2 * mm + w * np.tan(np.radians(0.3)))
    cv2.line(img, (0, y0), (w - 1, y1), (60, 60, 60), 2)
    cv2.line(img, (round(2.2 * mm), 0), (round(2.2 * mm), h - 1), (60, 60, 60), 2)  # and down the left side
    edges = _metrics(img, tmp_path)["edge_content"]
    assert edges["top"] < 0.01 and edges["left"] < 0.01, edges
    cut = _metrics(img[:, 230:], tmp_path)["edge_content"]  # the same probe sees text cut
    assert cut["left"] > 0.05 and cut["top"] < 0.01, cut


def _chart(washed: bool = False) -> np.ndarray:
    """A clean digital chart: white paper, thick coloured lines (mid-grey to the ink mask), black labels."""
    mm = DPI / 25.4
    w, h = round(210 * mm), round(297 * mm)
    img = np.full((h, w, 3), 255, np.uint8)
    rng = np.random.default_rng(5)
    for colour in ((60, 150, 230), (240, 170, 90), (100, 200, 130), (200, 130, 200)):  # BGR, luma 154-168
        pts = np.stack([np.linspace(30 * mm, 180 * mm, 20), rng.uniform(40 * mm, 150 * mm, 20)], axis=1)
        cv2.polylines(img, [pts.astype(np.int32)], False, colour, round(0.5 * mm))
    for i in range(12):
        cv2.putText(
            img,
            f"Label {i} 2016",
            (round(25 * mm), round((170 + 8 * i) * mm)),
            cv2.FONT_HERSHEY_SIMPLEX,
            1.0,
            (0, 0, 0),
            2,
        )
    if washed:  # overexposed: everything towards white, the black labels end up light grey
        img = cv2.convertScaleAbs(img, alpha=0.45, beta=150)
    return img


def test_clean_chart_is_not_overexposed_but_a_washed_out_page_is(tmp_path):
    from station.processing.pipeline import quality_flags

    config = ProcessingConfig()
    clean = _metrics(_chart(), tmp_path)
    assert clean["clipped_white"] > config.max_clipped_white
    assert clean["contrast"] < config.overexposed_max_contrast, "the median ink is the coloured lines"
    assert clean["ink_depth"] > 200, clean["ink_depth"]
    assert "overexposed" not in {f["code"] for f in quality_flags(clean, blank=False, config=config)}
    washed = _metrics(_chart(washed=True), tmp_path)
    assert washed["clipped_white"] > config.max_clipped_white and washed["ink_depth"] < 110, washed
    assert "overexposed" in {f["code"] for f in quality_flags(washed, blank=False, config=config)}


# -- QR --------------------------------------------------------------------------------------------


def _with_qr(img: np.ndarray, payload: str, *, size_mm: float, at=(0.6, 0.15)) -> np.ndarray:
    qr = cv2.QRCodeEncoder.create().encode(payload)
    px = round(size_mm / 25.4 * DPI)
    qr = cv2.resize(qr, (px, px), interpolation=cv2.INTER_NEAREST)
    out = img.copy()
    y, x = round(at[1] * img.shape[0]), round(at[0] * img.shape[1])
    out[y : y + px, x : x + px] = np.where(qr[..., None] > 127, out[y : y + px, x : x + px], 20)
    return out


def test_find_qr_on_separator_and_cover_sheets():
    payload = "SOHOA:SEP:1:7C1B3F0E-2A54-4D35-9D0A-6C0A1B2C3D4E"
    assert steps.find_qr(_with_qr(page(seed=61, blank=True), payload, size_mm=30), dpi=DPI) == [payload]
    cover = "SOHOA:COVER:H01.12.03/2024-0001"
    small_code = _with_qr(page(seed=62, lines=6), cover, size_mm=25)  # modules < 1 mm
    assert steps.find_qr(small_code, dpi=DPI, gate=False) == [cover]
    assert steps.find_qr(_with_qr(page(seed=62, lines=6), cover, size_mm=45, at=(0.5, 0.5)), dpi=DPI) == [cover]
    assert steps.find_qr(page(seed=63), dpi=DPI) == []


# -- OSD's Tesseract stays loaded between pages (station.output.tessworker) -----------------------------------


def _osd_child() -> int:
    with engine("osd") as loaded:
        return loaded.proc.pid


def _gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}")  # killed and waited for: not even a zombie


def test_a_killed_osd_child_costs_that_pages_answer_and_the_next_page_gets_a_new_one(caplog):
    img = page(seed=31 + 90, rotate=90, noise=4.0)
    assert steps.detect_orientation(img, dpi=DPI) == steps.detect_orientation(img, dpi=DPI)  # one child, twice
    with engine("osd") as loaded:
        first = stop_and_kill_when_asked(loaded)  # the child takes the page and dies
    assert steps.detect_orientation(img, dpi=DPI) == (0, 0.0), "no answer: the page is judged without OSD"
    assert "OSD gave no answer (exit)" in caplog.text and _gone(first)
    rotation, confidence = steps.detect_orientation(img, dpi=DPI)
    assert rotation == 270 and confidence > 2.0 and _osd_child() != first


def test_an_osd_child_past_its_timeout_is_killed_and_costs_that_pages_answer(caplog):
    img = page(seed=31 + 90, rotate=90, noise=4.0)
    first = _osd_child()
    assert steps.detect_orientation(img, dpi=DPI, timeout=0.001) == (0, 0.0)
    assert "OSD gave no answer (timeout)" in caplog.text and _gone(first)
    assert steps.detect_orientation(img, dpi=DPI)[0] == 270 and _osd_child() != first
