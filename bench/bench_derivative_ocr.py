"""Does the archived JPEG read worse than the page it came from? OCR of each page as the station gives it
to Tesseract (the luma of the colour JPEG derivative, station.processing.pipeline.encode_jpeg's settings),
at q80, q90 (what the station writes, since this bench) and q95, against OCR of the lossless page, scored against a
transcription made by someone else.

The pages and their transcriptions: scribeocr/ocr-benchmark (https://github.com/scribeocr/ocr-benchmark,
AGPL-3.0 per its package.json): real scans and screenshots of filings, depositions, tables, multi-column
pages, with hOCR ground truth corrected by hand. It is not on a package registry, so it is not fetched here:
clone it and give its folder as BENCH_GT_DIR (the commit we measured is printed and written down in
docs/bench/output.md).

Score per page, as that benchmark scores: words of the transcription found in the OCR (a multiset match,
word order not judged), and extra words the OCR made. Tesseract runs loaded (station.output.tessworker),
`vie` as the station runs it and `eng` (the pages are English: it shows the same effect with the right
model). Env: BENCH_GT_DIR (required), BENCH_LANGS (default "vie,eng"), BENCH_DPI (default: the width of a
letter page, 8.5 in), BENCH_QUALITIES (default "80,90,95").
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from lxml import html

from station.output.ocr import ocr_image
from station.processing.pipeline import JPEG_QUALITY, encode_jpeg


def truth_words(hocr: Path) -> list[str]:
    tree = html.parse(str(hocr))
    return [w for el in tree.xpath("//*[contains(@class, 'ocrx_word')]") if (w := el.text_content().strip())]


def score(truth: list[str], got: list[str]) -> tuple[int, int]:
    """(transcription words found, extra words): multisets, so a word read twice counts once."""
    found = sum((Counter(truth) & Counter(got)).values())
    return found, len(got) - found


def luma_after_jpeg(img: np.ndarray, quality: int, dpi: float) -> tuple[np.ndarray, int]:
    """What finishing gives Tesseract (station.output.pdfa.page_layer_and_grey), and the layer's size."""
    data = encode_jpeg(img, dpi=dpi, quality=quality)
    grey = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert grey is not None, "OpenCV could not decode the station's JPEG"
    return grey, len(data)


def pages(root: Path) -> list[tuple[Path, Path]]:
    out = []
    for hocr in sorted((root / "ground_truth").glob("*.hocr")):
        stem = hocr.name.split(".")[0]
        img = next((p for ext in ("png", "jpg") if (p := root / "img" / f"{stem}.{ext}").is_file()), None)
        if img:
            out.append((img, hocr))
    return out


def main() -> int:
    if not os.environ.get("BENCH_GT_DIR"):  # `python -m bench` runs every bench: this one only when asked
        print("not run: set BENCH_GT_DIR to a checkout of https://github.com/scribeocr/ocr-benchmark")
        return 0
    root = Path(os.environ["BENCH_GT_DIR"])
    if not (root / "ground_truth").is_dir():
        print(f"{root} has no ground_truth/: BENCH_GT_DIR must be a scribeocr/ocr-benchmark checkout", file=sys.stderr)
        return 2
    langs = os.environ.get("BENCH_LANGS", "vie,eng").split(",")
    qualities = [int(q) for q in os.environ.get("BENCH_QUALITIES", "80,90,95").split(",")]
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    print(f"pages: {root} {commit.strip() or '(not a git checkout)'}; load {os.getloadavg()[0]:.1f}")
    variants = ["lossless"] + [f"q{q}" for q in qualities]
    totals = {(lang, v): [0, 0] for lang in langs for v in variants}
    truth_total = 0
    sizes = dict.fromkeys(variants, 0)
    started = time.monotonic()
    for img_path, hocr in pages(root):
        img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if img is None:
            print(f"{img_path.name}: unreadable, skipped")
            continue
        # the files say 96 dpi (a screen default, not the scan's); a letter page's width gives a truer one
        dpi = float(os.environ.get("BENCH_DPI", 0)) or max(70.0, img.shape[1] / 8.5)
        truth = truth_words(hocr)
        truth_total += len(truth)
        greys = {"lossless": cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)}
        for q in qualities:
            greys[f"q{q}"], size = luma_after_jpeg(img, q, dpi)
            sizes[f"q{q}"] += size
        row = []
        for lang in langs:
            for v in variants:
                text = ocr_image(greys[v], dpi=dpi, lang=lang).text
                found, extra = score(truth, text.split())
                totals[(lang, v)][0] += found
                totals[(lang, v)][1] += extra
                row.append(f"{lang}/{v} {found}")
        h, w = img.shape[:2]
        print(f"{img_path.name:18} {w}x{h} @{dpi:.0f} truth {len(truth):5}  " + "  ".join(row), flush=True)
    print(f"\n{truth_total} transcription words, {time.monotonic() - started:.0f} s; load {os.getloadavg()[0]:.1f}")
    print(f"the station writes q{JPEG_QUALITY}")
    print("| language | input | words found | share | extra words | image layers |")
    print("|---|---|---:|---:|---:|---:|")
    for (lang, v), (found, extra) in totals.items():
        layers = f"{sizes[v] / 1e6:.1f} MB" if sizes[v] else ""
        print(f"| {lang} | {v} | {found} | {100 * found / max(1, truth_total):.2f} % | {extra} | {layers} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
