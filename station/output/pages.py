"""One page's share of finishing, done in an OCR worker from a single read of its image.

The station's derivative is the PDF's image layer already (colour JPEG, pipeline.JPEG_QUALITY): the worker decodes
its luma, gives it to Tesseract through a pipe and sends the file's bytes back unchanged, so the process that
assembles and signs documents only copies bytes. Any other image is decoded once and its layer encoded here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from station.output.ocr import DEFAULT_PSM, OcrError, ocr_image
from station.output.pdfa import page_layer_and_grey

if TYPE_CHECKING:
    from station.processing.config import ProcessingConfig


@dataclass(frozen=True)
class FinishedPage:
    """What a worker sends back for one page (picklable, a few MB at most)."""

    ok: bool  # OCR ran; when False the page still gets its image and an empty, marked text layer
    text: str
    text_pdf: bytes | None
    confidence: float
    jpeg: bytes  # the page's image layer for `PdfPage.jpeg`
    error: str = ""
    ocr_seconds: float = 0.0
    seconds: float = 0.0


def finish_page(
    image_path: Path, *, dpi: float, lang: str = "vie", timeout: float = 180, psm: int = DEFAULT_PSM
) -> FinishedPage:
    """OCR and image layer of one upright, deskewed page image. Raises PdfBuildError when it cannot be read;
    an OCR failure is returned (ok=False), because archiving goes on with the page flagged."""
    started = time.perf_counter()
    jpeg, grey = page_layer_and_grey(Path(image_path), dpi=dpi)
    ocr_started = time.perf_counter()
    try:
        ocr = ocr_image(grey, dpi=dpi, lang=lang, timeout=timeout, psm=psm)
    except OcrError as exc:
        return FinishedPage(
            ok=False,
            text="",
            text_pdf=None,
            confidence=0.0,
            jpeg=jpeg,
            error=str(exc),
            seconds=time.perf_counter() - started,
        )
    done = time.perf_counter()
    return FinishedPage(
        ok=True,
        text=ocr.text,
        text_pdf=ocr.text_pdf,
        confidence=ocr.mean_confidence,
        jpeg=jpeg,
        ocr_seconds=done - ocr_started,
        seconds=done - started,
    )


def digitise_page(
    src: Path, *, dpi: float, lang: str, out_path: Path, config: ProcessingConfig | None = None, process: bool = True
) -> tuple[dict | None, FinishedPage]:
    """A page from a file, as the station does it: the station's processing (deskew, orientation, crop,
    blank and quality flags; `station.processing.pipeline.process_page`) writes the derivative, then
    `finish_page` OCRs it and makes its image layer, as at Finish. `process=False`: the file is already a
    processed page. Returns (the processing record or None, the finished page)."""
    from station.processing.pipeline import load_image, process_page

    if not process:
        load_image(Path(src))  # the same checks on what the file is (0 bytes, PDF, multi-page, bomb)
        return None, finish_page(Path(src), dpi=dpi, lang=lang)
    result = process_page(Path(src), dpi=dpi, out_path=Path(out_path), config=config)
    return result.to_dict(), finish_page(Path(result.derivative_path), dpi=dpi, lang=lang)
