"""Pages per minute and text accuracy: our chain against OCRmyPDF and against Tesseract's own limit.

On the same generated pages (bench/evalset.py: 300 dpi, skewed up to ±3°, some turned 90/180/270°,
yellowed, noisy), in one run:

  ours (whole)    orientation + deskew (station.processing.pipeline.process_page), OCR, PDF/A-2b, signing,
                  in a pool of 2 processes (OMP_THREAD_LIMIT=1), documents built as their pages finish;
  ours (finish)   the part that runs when a batch is finished (processing already ran at capture):
                  OCR of the derivatives, PDF/A, signing;
  ocrmypdf        `ocrmypdf -l vie --output-type pdfa --rotate-pages --deskew -j 2` on the same images;
  tesseract       single-thread `tesseract` time per upright page, divided across the cores: the limit.

Accuracy: `pdftotext -layout` of each output page against the ground truth, CER with diacritics counted and WER.
Env: BENCH_PAGES (default 12), BENCH_DOC_PAGES (pages per document, default 4), BENCH_DIR (work folder,
default a temporary one), BENCH_DOC (results page, default docs/bench/output.md; "-" to not write).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

from bench.evalset import EvalPage, machine, make_evalset, write_section
from sohoa.samplepages import char_error_rate, word_error_rate

ROOT = Path(__file__).resolve().parent.parent
CORES = 2
AGENCY = "Ủy ban nhân dân phường Hà Tu"
STAMP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00")


def _init_worker() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"  # one core per Tesseract: parallelism comes from the processes
    import cv2

    cv2.setNumThreads(1)
    import station.output.ocr  # noqa: F401  (imports paid before the clock starts)
    import station.processing.pipeline  # noqa: F401


def _warm(_: int) -> int:
    return os.getpid()


def _whole_job(src: str, dpi: float, derivative: str) -> dict:
    from station.output.ocr import ocr_page
    from station.processing.pipeline import process_page

    started = time.perf_counter()
    res = process_page(Path(src), dpi=dpi, out_path=Path(derivative))
    processed = time.perf_counter()
    ocr = ocr_page(Path(derivative), dpi=dpi)
    return {"text_pdf": ocr.text_pdf, "process_s": processed - started,
            "ocr_s": time.perf_counter() - processed, "angle": res.angle, "rotation": res.rotation}


def _ocr_job(image: str, dpi: float) -> dict:
    from station.output.ocr import ocr_page

    started = time.perf_counter()
    ocr = ocr_page(Path(image), dpi=dpi)
    return {"text_pdf": ocr.text_pdf, "process_s": 0.0, "ocr_s": time.perf_counter() - started}


def _run_chain(pages: list[EvalPage], out_dir: Path, *, signer, doc_pages: int, whole: bool,
               derivatives: list[Path]) -> dict:
    """Submit every page at once, then build and sign each document as soon as its pages are back."""
    from protocol.pdfa_check import check_pdfa
    from station.output.pdfa import PdfMeta, PdfPage, build_pdfa

    out_dir.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=CORES, initializer=_init_worker) as pool:
        list(pool.map(_warm, range(CORES * 2)))  # the station's pool is long-lived: start it off the clock
        started = time.perf_counter()
        futures: list[Future] = []
        for page, derivative in zip(pages, derivatives, strict=True):
            if whole:
                futures.append(pool.submit(_whole_job, str(page.path), page.dpi, str(derivative)))
            else:
                futures.append(pool.submit(_ocr_job, str(derivative), page.dpi))
        results, docs, pdfa_s, sign_s = [], [], 0.0, 0.0
        for first in range(0, len(pages), doc_pages):
            chunk = list(range(first, min(first + doc_pages, len(pages))))
            got = [futures[i].result() for i in chunk]
            results.extend(got)
            t0 = time.perf_counter()
            unsigned = out_dir / f"doc-{first // doc_pages + 1:03d}.unsigned.pdf"
            build_pdfa([PdfPage(derivatives[i], pages[i].dpi, r["text_pdf"]) for i, r in zip(chunk, got,
                                                                                          strict=True)],
                       out=unsigned, meta=PdfMeta(title=f"Tài liệu {first // doc_pages + 1}", doc_id="B.1",
                                                  doc_code="B", agency=AGENCY, created=datetime.now().astimezone()))
            t1 = time.perf_counter()
            final = unsigned.with_name(unsigned.name.replace(".unsigned", ""))
            signer.sign(unsigned, final, agency_name=AGENCY)
            unsigned.unlink()
            sign_s += time.perf_counter() - t1
            pdfa_s += t1 - t0
            docs.append((final, chunk))
        elapsed = time.perf_counter() - started
    problems = {str(path.name): check_pdfa(path) for path, _ in docs}
    texts = [""] * len(pages)
    for path, chunk in docs:
        for number, i in enumerate(chunk, 1):
            texts[i] = _drop_stamp(_pdftotext(path, number))
    return {"seconds": elapsed, "texts": texts, "results": results, "pdfa_s": pdfa_s, "sign_s": sign_s,
            "problems": {k: v for k, v in problems.items() if v}, "size": sum(p.stat().st_size for p, _ in docs)}


def _pdftotext(pdf: Path, page: int) -> str:
    """The page's text in physical layout: rows of the two-column header stay rows, as in the truth.
    (Without -layout pdftotext may move a header column as a block, which costs 3-4% CER on a page
    for either tool without one character being misread.)"""
    out = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", "-f", str(page), "-l", str(page), str(pdf),
                          "-"], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout


def _drop_stamp(text: str) -> str:
    """Our page 1 also carries the signature stamp's text (agency, ISO time): not OCR, so not scored."""
    return "\n".join(line for line in text.splitlines()
                     if line.strip() != AGENCY and not STAMP_TIME.fullmatch(line.strip()))


def _run_ocrmypdf(pages: list[EvalPage], work: Path) -> dict:
    import img2pdf

    source = work / "ocrmypdf-in.pdf"
    source.write_bytes(img2pdf.convert([str(p.path) for p in pages]))  # lossless, page size from the DPI
    out = work / "ocrmypdf-out.pdf"
    exe = shutil.which("ocrmypdf") or str(Path(sys.executable).with_name("ocrmypdf"))
    args = [exe, "-l", "vie", "--output-type", "pdfa", "--rotate-pages", "--deskew", "-j", str(CORES),
            "-q", str(source), str(out)]
    started = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=3600,
                          env=dict(os.environ, OMP_THREAD_LIMIT="1"))
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"ocrmypdf exited with {proc.returncode}: {proc.stderr[-2000:]}")
    texts = [_pdftotext(out, i + 1) for i in range(len(pages))]
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    return {"seconds": elapsed, "texts": texts, "version": version, "size": out.stat().st_size}


def _tesseract_limit(images: list[Path], dpi: float) -> dict:
    """Single-thread Tesseract, plain text, our recognition settings, one page after the other."""
    from station.output.ocr import DEFAULT_PSM

    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    times = []
    for image in images:
        started = time.perf_counter()
        subprocess.run(["tesseract", str(image), "-", "-l", "vie", "--dpi", str(round(dpi)), "--psm",
                        str(DEFAULT_PSM)], capture_output=True, timeout=600, check=True, env=env)
        times.append(time.perf_counter() - started)
    return {"per_page_s": statistics.mean(times), "seconds": sum(times) / CORES}


def _accuracy(pages: list[EvalPage], texts: list[str]) -> tuple[float, float, list[float]]:
    """CER and WER over the whole set (errors summed over pages / reference length), and CER per page."""
    per_page = [char_error_rate(p.truth, t) for p, t in zip(pages, texts, strict=True)]
    chars = [len(" ".join(p.truth.split())) for p in pages]
    words = [len(p.truth.split()) for p in pages]
    cer = sum(c * n for c, n in zip(per_page, chars, strict=True)) / sum(chars)
    wer = sum(word_error_rate(p.truth, t) * n for p, t, n in zip(pages, texts, words, strict=True)) / sum(words)
    return cer, wer, per_page


def _warm_signer(signer, work: Path) -> None:
    """The station's signer lives as long as the service: its first stamp (font subset) is off the clock."""
    from station.output.pdfa import PdfMeta, PdfPage, build_pdfa

    sample = make_evalset(work / "warm", count=1, seed=7)[0]
    build_pdfa([PdfPage(sample.path, sample.dpi, None)], out=work / "warm.pdf",
               meta=PdfMeta(title="warm", doc_id="W", doc_code="W", agency=AGENCY,
                            created=datetime.now().astimezone()))
    signer.sign(work / "warm.pdf", work / "warm-signed.pdf", agency_name=AGENCY)


def _ppm(n: int, seconds: float) -> float:
    return n / seconds * 60


def main() -> int:
    from station.output.keys import ensure_demo_ca
    from station.output.signing import Signer

    count = int(os.environ.get("BENCH_PAGES", "12"))
    doc_pages = int(os.environ.get("BENCH_DOC_PAGES", "4"))
    work = Path(os.environ.get("BENCH_DIR") or tempfile.mkdtemp(prefix="sohoa-bench-ocr-"))
    doc = os.environ.get("BENCH_DOC", str(ROOT / "docs" / "bench" / "output.md"))
    print(f"work folder {work}; {count} pages, {doc_pages} per document; {machine()}", flush=True)
    pages = make_evalset(work / "pages", count=count)
    keys = ensure_demo_ca(work / "keys", agency_name=AGENCY)
    signer = Signer.from_pkcs12(keys.agency_p12, keys.passphrase)
    _warm_signer(signer, work)
    derivatives = [work / "derivatives" / f"{p.path.stem}.png" for p in pages]
    before = machine()

    whole = _run_chain(pages, work / "ours", signer=signer, doc_pages=doc_pages, whole=True,
                       derivatives=derivatives)
    print(f"ours (whole chain): {whole['seconds']:.1f} s", flush=True)
    finish = _run_chain(pages, work / "ours-finish", signer=signer, doc_pages=doc_pages, whole=False,
                        derivatives=derivatives)
    print(f"ours (finishing only): {finish['seconds']:.1f} s", flush=True)
    limit = _tesseract_limit(derivatives, pages[0].dpi)
    print(f"tesseract alone: {limit['per_page_s']:.2f} s per page", flush=True)
    peer = _run_ocrmypdf(pages, work)
    print(f"ocrmypdf: {peer['seconds']:.1f} s", flush=True)
    after = machine()

    ours_cer, ours_wer, ours_pages = _accuracy(pages, whole["texts"])
    peer_cer, peer_wer, peer_pages = _accuracy(pages, peer["texts"])
    n = len(pages)
    ppm = {"whole": _ppm(n, whole["seconds"]), "finish": _ppm(n, finish["seconds"]),
           "ocrmypdf": _ppm(n, peer["seconds"]), "limit": _ppm(n, limit["seconds"])}
    res = whole["results"]
    stage = {k: statistics.mean(r[k] for r in res) for k in ("process_s", "ocr_s")}
    turned = [i for i, p in enumerate(pages) if p.rotate]
    wrong_turn = [pages[i].path.name for i, r in enumerate(res) if r["rotation"] != pages[i].upright_rotation]
    skew_err = max(abs(r["angle"] - pages[i].skew_deg) for i, r in enumerate(res))

    lines = [
        "## OCR chain: pages per minute and text accuracy (`python -m bench ocr_chain`)",
        "",
        f"Machine: {before} (at the end: load average {after.split('load average ')[1].split(',')[0]}). "
        f"{n} generated pages (bench/evalset.py, seed 1000): A4 300 dpi colour, skew ±3°, "
        f"{len(turned)} turned 90/180/270°, most yellowed, noise 0-6%. Documents of {doc_pages} pages, "
        "each signed (visible stamp, file key). 2 worker processes, OMP_THREAD_LIMIT=1.",
        "",
        "| run | pages/min | ratio to Tesseract limit | CER | WER |",
        "|---|---:|---:|---:|---:|",
        f"| ours, whole chain (orientation, deskew, OCR, PDF/A, sign) | {ppm['whole']:.1f} | "
        f"{ppm['whole'] / ppm['limit']:.0%} | {ours_cer:.3%} | {ours_wer:.3%} |",
        f"| ours, finishing only (OCR, PDF/A, sign; processing done at capture) | {ppm['finish']:.1f} | "
        f"{ppm['finish'] / ppm['limit']:.0%} | same text | |",
        f"| {peer['version'] and 'OCRmyPDF ' + peer['version']} `-l vie --output-type pdfa --rotate-pages "
        f"--deskew -j 2` | {ppm['ocrmypdf']:.1f} | {ppm['ocrmypdf'] / ppm['limit']:.0%} | {peer_cer:.3%} | "
        f"{peer_wer:.3%} |",
        f"| Tesseract alone (single thread {limit['per_page_s']:.2f} s/page, ÷ {CORES} cores): the limit | "
        f"{ppm['limit']:.1f} | 100% | | |",
        "",
        "Text: `pdftotext -layout` per page (our signature stamp's two lines removed); CER = character "
        "edits (NFC, diacritics count, whitespace runs as one space) / reference characters, summed over pages.",
        "",
        f"Ours against OCRmyPDF: {ppm['whole'] / ppm['ocrmypdf']:.1f}× (whole chain), "
        f"{ppm['finish'] / ppm['ocrmypdf']:.1f}× (finishing only). Target: whole chain ≥ 85% of the limit.",
        "",
        f"Where the time goes, per page in a worker: processing (border, deskew, blank score, OSD "
        f"orientation, quality metrics, QR, PNG) {stage['process_s']:.2f} s, OCR {stage['ocr_s']:.2f} s; "
        f"in the main process per document: PDF/A {whole['pdfa_s'] / max(1, -(-n // doc_pages)):.2f} s, "
        f"signing {whole['sign_s'] / max(1, -(-n // doc_pages)):.3f} s.",
        f"Orientation: {sum(res[i]['rotation'] == pages[i].upright_rotation for i in turned)} of "
        f"{len(turned)} turned pages found"
        f"{'; wrong on ' + ', '.join(wrong_turn) if wrong_turn else ''}; largest skew error "
        f"{skew_err:.2f}°. Output size: ours {whole['size'] / n / 1e6:.2f} MB/page (JPEG q80), OCRmyPDF "
        f"{peer['size'] / n / 1e6:.2f} MB/page. PDF/A checker problems: {whole['problems'] or 'none'}.",
        "",
        "CER per page (ours / OCRmyPDF): " + ", ".join(
            f"{p.path.stem[-2:]} {'r' + str(p.rotate) + ' ' if p.rotate else ''}{p.skew_deg:+.1f}°: "
            f"{a:.2%}/{b:.2%}" for p, a, b in zip(pages, ours_pages, peer_pages, strict=True)),
    ]
    report = "\n".join(lines)
    print(report)
    if doc != "-":
        write_section(Path(doc), "ocr_chain", report)
        print(f"written to {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
