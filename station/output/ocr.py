"""Tesseract behind one thin call: text, word confidences and a text-only PDF page from a single run.

One run produces the three outputs (`pdf txt tsv` configs), so a page is recognised once. Tesseract runs
single-threaded (OMP_THREAD_LIMIT=1: with OpenMP on 2 cores a page takes about 4× longer); parallelise with
processes, one Tesseract each. It stays loaded between pages (station.output.tessworker: a child process
per worker holding libtesseract, the same library and settings as the `tesseract` program), which saves
starting the program and loading the model for every page. The page's real DPI is always passed, so the
text page has the size of the image page it will be laid on.

Tesseract gets the page as 8-bit grey pixels through a pipe, never a colour file: given a colour JPEG it
decodes it and binarises every channel, which cost 0.25-0.3 s more per A4 300 dpi page (about a quarter of
the whole recognition) for the same text, character for character, on our evaluation pages.
"""

from __future__ import annotations

import csv
import io
import logging
import subprocess
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from protocol.errors import UserError
from protocol.i18n import N_
from protocol.scratch import scratch
from station.output.tessworker import EngineError, engine

log = logging.getLogger("sohoa.tesseract")

TESSERACT = "tesseract"


class OcrError(UserError):
    """OCR of one page failed; the caller flags the page and archiving goes on."""

    key = "ocr"


@dataclass
class OcrResult:
    text: str  # NFC
    mean_confidence: float  # 0..100 over recognised words, 0 when there are none
    words: int
    text_pdf: bytes  # one page, invisible text only (render mode 3), sized from the DPI
    word_confidences: list[tuple[str, float]] = field(default_factory=list)


def tesseract_version() -> str:
    """First line of `tesseract --version`; raises OcrError when Tesseract is not installed."""
    try:
        out = subprocess.run([TESSERACT, "--version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise OcrError(N_("tesseract is not usable: %(exc)s"), exc=exc) from exc
    return out.stdout.splitlines()[0].strip()


def _grey_shape(grey: np.ndarray) -> tuple[int, int]:
    """(height, width) of an 8-bit grey image; ValueError for anything else."""
    if grey.ndim != 2 or grey.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit grey image, got {grey.dtype} with shape {grey.shape}")
    return grey.shape[0], grey.shape[1]


def _recognise(grey: np.ndarray, *, base: Path, dpi: float, lang: str, psm: int, timeout: float) -> None:
    """BASE.pdf (text only), BASE.txt and BASE.tsv of one page, by a Tesseract that stays loaded
    (station.output.tessworker: the same library and settings as `tesseract stdin BASE --dpi D --psm P
    -c textonly_pdf=1 pdf txt tsv`, without starting the program and loading the model for every page)."""
    height, width = _grey_shape(grey)
    try:
        with engine(lang) as tesseract:
            tesseract.recognise(
                np.ascontiguousarray(grey).tobytes(),
                width=width, height=height, dpi=round(dpi), psm=psm, base=str(base), timeout=timeout,
            )
    except EngineError as exc:
        if exc.kind == "timeout":
            raise OcrError(N_("tesseract timed out after %(timeout).0f s"), timeout=timeout) from exc
        if exc.kind == "start":
            raise OcrError(N_("cannot start tesseract: %(exc)s"), exc=exc.detail) from exc
        # it died, or refused the page as the program would have, exiting with 1
        raise OcrError(
            N_("tesseract exited with %(returncode)s: %(strip)s"),
            returncode=exc.code if exc.code is not None else 1, strip=exc.detail,
        ) from exc


def _read_tsv(tsv: str) -> list[tuple[str, float]]:
    words = []
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if row.get("level") == "5" and text:
            words.append((unicodedata.normalize("NFC", text), float(row["conf"])))
    return words


#: Page segmentation mode. 6 (one uniform block) reads administrative pages best: on generated pages the
#: default 3 dropped whole body lines now and then (CER 0.5% against 0.1% with 6). The two-column header
#: of these documents shares rows, so it still reads in order.
DEFAULT_PSM = 6


def read_grey(image_path: Path) -> np.ndarray:
    """The page image as 8-bit grey (luma), the way Tesseract is given it. Raises OcrError when unreadable."""
    image_path = Path(image_path)
    if not image_path.is_file():
        raise OcrError(N_("page image not found: %(image_path)s"), image_path=image_path)
    grey = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
    if grey is None:
        raise OcrError(N_("cannot read page image %(image_path)s"), image_path=image_path)
    return grey


def pgm_bytes(grey: np.ndarray) -> bytes:
    """A binary PGM (P5) of an 8-bit grey image: no compression to undo on either side of the pipe."""
    height, width = _grey_shape(grey)
    return b"P5\n%d %d\n255\n" % (width, height) + np.ascontiguousarray(grey).tobytes()


def ocr_image(
    grey: np.ndarray, *, dpi: float, lang: str = "vie", timeout: float = 180, psm: int = DEFAULT_PSM
) -> OcrResult:
    """Recognise one page already in memory: 8-bit grey, upright and deskewed. Raises OcrError on any failure."""
    with scratch("ocr") as tmp:
        base = Path(tmp) / "page"
        _recognise(grey, base=base, dpi=dpi, lang=lang, psm=psm, timeout=timeout)
        outputs = {ext: base.with_suffix(f".{ext}") for ext in ("pdf", "txt", "tsv")}
        missing = [ext for ext, path in outputs.items() if not path.is_file() or path.stat().st_size == 0]
        if "pdf" in missing or "tsv" in missing:  # exit 0 without output is still a failure
            raise OcrError(N_("tesseract wrote no %(missing)s output"), missing=', '.join(missing))
        text = outputs["txt"].read_text(encoding="utf-8") if outputs["txt"].is_file() else ""
        words = _read_tsv(outputs["tsv"].read_text(encoding="utf-8"))
        text_pdf = outputs["pdf"].read_bytes()
    confidences = [conf for _, conf in words if conf >= 0]
    return OcrResult(
        text=unicodedata.normalize("NFC", text).strip(),
        mean_confidence=sum(confidences) / len(confidences) if confidences else 0.0,
        words=len(words),
        text_pdf=text_pdf,
        word_confidences=words,
    )


def ocr_page(
    image_path: Path, *, dpi: float, lang: str = "vie", timeout: float = 180, psm: int = DEFAULT_PSM
) -> OcrResult:
    """Recognise one page image file (already upright and deskewed). Raises OcrError on any failure."""
    return ocr_image(read_grey(image_path), dpi=dpi, lang=lang, timeout=timeout, psm=psm)
