"""The Tesseract that stays loaded (station.output.tessworker): the program's outputs, a crash costs one page."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from sohoa.samplepages import char_error_rate, write_sample_folder
from station.output import tessworker
from station.output.ocr import OcrError, ocr_image, pgm_bytes
from station.output.tessworker import EngineError, engine


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    [path] = write_sample_folder(tmp_path_factory.mktemp("pages"), count=1, seed=32, dpi=300, with_text=True)
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), path.with_suffix(".txt").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _stop_engines():
    yield
    tessworker.close_all()


def test_the_same_outputs_as_the_tesseract_program_from_one_loaded_engine(page):
    grey, truth = page
    first = ocr_image(grey, dpi=300)
    with engine("vie") as loaded:
        pid = loaded.proc.pid
    second = ocr_image(grey[: grey.shape[0] // 2], dpi=300)
    with engine("vie") as loaded:
        assert loaded.proc.pid == pid  # both pages by the same child: the model is loaded once
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "p"
        subprocess.run(
            ["tesseract", "stdin", str(base), "-l", "vie", "--dpi", "300", "--psm", "6", "-c", "textonly_pdf=1",
             "pdf", "txt", "tsv"],
            input=pgm_bytes(grey), capture_output=True, check=True, env=dict(os.environ, OMP_THREAD_LIMIT="1"),
        )
        assert first.text == base.with_suffix(".txt").read_text(encoding="utf-8").strip()
        assert first.words == sum(1 for line in base.with_suffix(".tsv").read_text().splitlines()[1:]
                                  if line.split("\t")[0] == "5" and line.split("\t")[-1].strip())
        assert len(first.text_pdf) == base.with_suffix(".pdf").stat().st_size
    assert char_error_rate(truth, first.text) <= 0.01 and second.text and second.text in first.text


def test_a_crash_costs_one_page_and_the_next_page_gets_a_new_engine(page):
    grey, _ = page
    ocr_image(grey[:400], dpi=300)
    with pytest.raises(EngineError) as err, engine("vie") as loaded:
        pid = loaded.proc.pid
        os.kill(pid, signal.SIGKILL)
        loaded.proc.wait()
        loaded.recognise(grey.tobytes(), width=grey.shape[1], height=grey.shape[0], dpi=300, psm=6,
                         base=str(Path(tempfile.gettempdir()) / "never"), timeout=30)
    assert err.value.kind == "exit"
    assert "CỘNG HÒA" in ocr_image(grey, dpi=300).text.upper()
    with engine("vie") as loaded:
        assert loaded.proc.pid != pid


def test_an_unknown_language_is_an_ocr_error_and_a_forked_child_starts_its_own(page):
    grey, _ = page
    with pytest.raises(OcrError) as err:
        ocr_image(grey[:200], dpi=300, lang="xx-none")
    assert "xx-none" in err.value.text("en")
    ocr_image(grey[:200], dpi=300)
    with engine("vie") as loaded:
        parent_engine = loaded.proc.pid
    child = os.fork()
    if child == 0:  # a worker forked from a process holding an engine must not share its pipes
        code = 1
        try:
            with engine("vie") as own:
                code = 0 if own.proc.pid != parent_engine and "CỘNG" in ocr_image(grey, dpi=300).text.upper() else 2
            tessworker.close_all()
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with engine("vie") as loaded:
        assert loaded.proc.pid == parent_engine  # the parent's engine was left alone


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def test_osd_gives_the_programs_answer_from_one_loaded_engine(page):
    """Angle, orientation confidence and script (and the other two numbers) as `tesseract --psm 0` prints them,
    page after page from one child: whole pages and middle quarters, four turns, 50 and 20 characters."""
    from bench.bench_osd import program_osd
    from station.processing import steps

    grey, _ = page
    pids, answered = set(), 0
    for turn in (0, 90, 180, 270):
        g, dpi = steps.osd_input(steps.rotate(grey, turn), dpi=300)
        h, w = g.shape
        centre = np.ascontiguousarray(g[h // 4 : h - h // 4, w // 4 : w - w // 4])
        for image, characters in ((g, 50), (centre, 20)):
            with engine("osd") as loaded:
                pids.add(loaded.proc.pid)
                mine = loaded.orientation(image.tobytes(), width=image.shape[1], height=image.shape[0], dpi=dpi,
                                          min_characters=characters, timeout=60)
            theirs, _ = program_osd(image, dpi=dpi, min_characters=characters)
            assert mine == theirs, (turn, characters)
            if mine is not None:
                answered += 1
                assert mine["rotate"] == (360 - turn) % 360 and mine["script"] == "Latin"
    assert answered >= 6 and len(pids) == 1, (answered, pids)
    with engine("osd") as loaded:  # a page without text: no answer, as the program gives none
        blank = np.full((400, 300), 255, np.uint8)
        none = loaded.orientation(blank.tobytes(), width=300, height=400, dpi=200, min_characters=50, timeout=60)
        assert none is None
        assert program_osd(blank, dpi=200, min_characters=50)[0] is None


def test_osd_child_memory_stays_steady_over_many_pages(page):
    from station.processing import steps

    grey, _ = page
    g, dpi = steps.osd_input(steps.rotate(grey, 180), dpi=300)
    rss = []
    with engine("osd") as loaded:
        for n in range(40):
            image = np.ascontiguousarray(g[: g.shape[0] // 2] if n % 2 else g)
            answer = loaded.orientation(image.tobytes(), width=image.shape[1], height=image.shape[0], dpi=dpi,
                                        min_characters=20, timeout=60)
            assert answer is not None and answer["rotate"] == 180
            rss.append(_rss_mb(loaded.proc.pid))
    assert rss[-1] - rss[9] < 3.0, f"RSS after page 10 {rss[9]:.1f} MB, after 40 {rss[-1]:.1f} MB"
