"""Orientation, blank and quality flags on pages this project did not make.

A rule once scored 480/480 on our own pages and turned real upright pages upside down (issue #13). These
pages are the orientation bench's outside set (bench/outside_pages.toml: OCRmyPDF's test scans, scikit-image's
pictures, each with its source and licence), fetched with pip once into the bench cache. The bench
(`python -m bench orientation`) runs every page in all four turns; here each page runs upright and each
text page in one other turn, through the station's own processing, and is judged by the bench's own rules.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import cv2
import pytest

from bench.bench_orientation import Case, _init, _one, _turn, evaluate
from bench.outside_pages import fetch_outside_pages
from bench.processing_evalset import CACHE


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> dict:
    pages = fetch_outside_pages(CACHE)  # pip download once (network), then the cache
    assert len(pages) >= 30, "the outside set shrank: bench/outside_pages.toml"
    folder = tmp_path_factory.mktemp("outside")
    cases = []
    for i, page in enumerate(pages):
        upright = _turn(cv2.imread(str(page.path), cv2.IMREAD_COLOR), page.fix_rotation)
        for turn in (0, (90, 180, 270)[i % 3]) if page.kind == "text" else (0,):  # pictures: never turned
            path = folder / f"{i}-t{turn}.png"
            cv2.imwrite(str(path), _turn(upright, turn))
            cases.append(Case(str(path), "outside", page.source, page.kind, (360 - turn) % 360, page.skew_deg,
                              page.clean))
    spawn = multiprocessing.get_context("spawn")  # OpenCV ran here: no fork
    with ProcessPoolExecutor(2, mp_context=spawn, initializer=_init) as pool:
        futures = [pool.submit(_one, c.path, str(folder / f"{n}.jpg")) for n, c in enumerate(cases)]
        results = [f.result() for f in futures]
    return evaluate(cases, results)


def test_no_upright_outside_page_is_turned(judged: dict):
    assert judged["upright_n"] >= 20
    assert judged["upright_turned"] == []


def test_no_photograph_map_or_chart_is_turned_wrong(judged: dict):
    assert judged["picture_n"] + judged["figure_n"] >= 8
    assert judged["picture_turned"] == []


def test_turned_outside_text_pages_are_put_right(judged: dict):
    assert judged["rotated_n"] >= 10
    assert judged["wrong"] == [] and judged["rotated_ok"] == judged["rotated_n"]


def test_no_content_page_is_called_blank_and_blanks_are_found(judged: dict):
    assert judged["false_blank"] == []
    assert judged["blanks"] >= 1 and judged["blank_found"] == judged["blanks"]


def test_clean_outside_pages_raise_no_quality_flag(judged: dict):
    assert judged["clean_n"] >= 25
    assert judged["clean_flagged"] == []
