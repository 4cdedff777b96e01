"""Pages per minute and text accuracy: our chain against OCRmyPDF and against Tesseract's own limit.

On the same generated pages (bench/evalset.py: 300 dpi, skewed up to ±3°, some turned 90/180/270°,
yellowed, noisy), in one run:

  ours (whole)    orientation + deskew (station.processing.pipeline.process_page), OCR, PDF/A-2b, signing,
                  in a pool of 2 processes (OMP_THREAD_LIMIT=1), documents built as their pages finish;
                  the derivative is the PDF's image layer (pipeline.JPEG_QUALITY): each worker decodes its luma for
                  Tesseract, which stays loaded in a child process per worker (station.output.tessworker),
                  and sends the JPEG bytes back as they are; the main process assembles and signs in memory
                  (station.output.pages);
  ours (frames)   the same from the pages' raw frames in shared memory (the live capture path hands the
                  scanner's frame to processing): no PNG decode of the original;
  ours (finish)   the part that runs when a batch is finished (processing already ran at capture):
                  OCR of the derivatives, PDF/A, signing;
  ocrmypdf        `ocrmypdf -l vie --output-type pdfa --rotate-pages --deskew -j 2` on the same images;
  tesseract       single-thread `tesseract` time per upright page, divided across the cores: the limit
                  (on the derivative files, as before; also shown, for reference, for grey input on stdin and
                  for the same library kept loaded, as our chain runs it).

CPU time per page (all processes, Tesseract included) is reported next to pages per minute: on a busy
machine it says more than the wall clock.

Accuracy: `pdftotext -layout` of each output page against the ground truth, CER with diacritics counted and WER.
Env: BENCH_PAGES (default 24), BENCH_DOC_PAGES (pages per document, default 4), BENCH_DIR (work folder,
default a temporary one), BENCH_DOC (results page, default docs/bench/output.md; "-" to not write).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.evalset import EvalPage, machine, make_evalset, write_section
from sohoa.samplepages import char_error_rate, word_error_rate

if TYPE_CHECKING:
    from station.processing.pipeline import PageResult

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


def _live_children_cpu() -> float:
    """User + system seconds of this process's children still running: the Tesseract a worker keeps
    loaded (station.output.tessworker) is only reaped when the worker ends."""
    me, tick, total = str(os.getpid()), os.sysconf("SC_CLK_TCK"), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if fields[1] == me:  # ppid; utime and stime are fields 14 and 15 of the line
            total += int(fields[11]) + int(fields[12])
    return total / tick


def _cpu() -> float:
    """User + system seconds of this process and of its children, reaped (the Tesseracts it ran) or not."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + _live_children_cpu()


def _whole_job(src: str, dpi: float, derivative: str) -> dict:
    from station.processing.pipeline import process_page

    cpu, started = _cpu(), time.perf_counter()
    res = process_page(Path(src), dpi=dpi, out_path=Path(derivative))
    return _ocr_processed(res, derivative, dpi, cpu, started)


def _frame_job(frame: str, shape: tuple[int, ...], dpi: float, derivative: str) -> dict:
    """The live path: the scanner's frame is already in memory (shared with the capture process), so the
    processing steps start without decoding a PNG."""
    from station.processing.pipeline import process_image

    cpu, started = _cpu(), time.perf_counter()
    image = np.memmap(frame, dtype=np.uint8, mode="c", shape=shape)  # copy on write: the frame stays as captured
    res = process_image(image, dpi=dpi, out_path=Path(derivative))
    del image
    return _ocr_processed(res, derivative, dpi, cpu, started)


def _ocr_processed(res: PageResult, derivative: str, dpi: float, cpu: float, started: float) -> dict:
    """OCR + image layer of a processed page, with the processing and finishing times split."""
    from station.output.pages import finish_page

    processed, cpu_processed = time.perf_counter(), _cpu()
    page = finish_page(Path(derivative), dpi=dpi)
    return {
        "page": page,
        "process_s": processed - started,
        "ocr_s": page.ocr_seconds,
        "prepare_s": page.seconds - page.ocr_seconds,
        "cpu_process_s": cpu_processed - cpu,
        "cpu_finish_s": _cpu() - cpu_processed,
        "angle": res.angle,
        "rotation": res.rotation,
    }


def _write_frames(pages: list[EvalPage], folder: Path) -> list[tuple[str, tuple[int, ...]]]:
    """Each page's pixels as a raw frame in shared memory (/dev/shm), as the scanner hands them over."""
    from station.processing.pipeline import load_image

    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for page in pages:
        image = load_image(page.path)
        path = folder / f"{page.path.stem}.raw"
        image.tofile(path)
        frames.append((str(path), image.shape))
    return frames


def _finish_job(image: str, dpi: float) -> dict:
    from station.output.pages import finish_page

    cpu = _cpu()
    page = finish_page(Path(image), dpi=dpi)
    return {
        "page": page,
        "process_s": 0.0,
        "ocr_s": page.ocr_seconds,
        "prepare_s": page.seconds - page.ocr_seconds,
        "cpu_process_s": 0.0,
        "cpu_finish_s": _cpu() - cpu,
    }


def _run_chain(
    pages: list[EvalPage],
    out_dir: Path,
    *,
    signer,
    doc_pages: int,
    whole: bool,
    derivatives: list[Path],
    frames: list[tuple[str, tuple[int, ...]]] | None = None,
) -> dict:
    """Submit every page at once, then build and sign each document (in memory, one write) as soon as its
    pages are back. Workers decode each page once: grey to Tesseract, colour to the PDF's JPEG layer."""
    from protocol.pdfa_check import check_pdfa
    from station.output.pdfa import PdfMeta, PdfPage, build_pdfa_bytes

    out_dir.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=CORES, initializer=_init_worker) as pool:
        list(pool.map(_warm, range(CORES * 2)))  # the station's pool is long-lived: start it off the clock
        started, main_cpu = time.perf_counter(), time.process_time()
        futures: list[Future] = []
        for i, (page, derivative) in enumerate(zip(pages, derivatives, strict=True)):
            if frames:
                futures.append(pool.submit(_frame_job, frames[i][0], frames[i][1], page.dpi, str(derivative)))
            elif whole:
                futures.append(pool.submit(_whole_job, str(page.path), page.dpi, str(derivative)))
            else:
                futures.append(pool.submit(_finish_job, str(derivative), page.dpi))
        results, docs, pdfa_s, sign_s = [], [], 0.0, 0.0
        for first in range(0, len(pages), doc_pages):
            chunk = list(range(first, min(first + doc_pages, len(pages))))
            got = [futures[i].result() for i in chunk]
            results.extend(got)
            t0 = time.perf_counter()
            data = build_pdfa_bytes(
                [
                    PdfPage(derivatives[i], pages[i].dpi, r["page"].text_pdf, jpeg=r["page"].jpeg)
                    for i, r in zip(chunk, got, strict=True)
                ],
                meta=PdfMeta(
                    title=f"Tài liệu {first // doc_pages + 1}",
                    doc_id="B.1",
                    doc_code="B",
                    agency=AGENCY,
                    created=datetime.now().astimezone(),
                ),
            )
            t1 = time.perf_counter()
            final = out_dir / f"doc-{first // doc_pages + 1:03d}.pdf"
            signer.sign_bytes(data, final, agency_name=AGENCY)
            sign_s += time.perf_counter() - t1
            pdfa_s += t1 - t0
            docs.append((final, chunk))
        elapsed = time.perf_counter() - started
        main_cpu = time.process_time() - main_cpu
    problems = {str(path.name): check_pdfa(path) for path, _ in docs}
    texts = [""] * len(pages)
    for path, chunk in docs:
        for number, i in enumerate(chunk, 1):
            texts[i] = _drop_stamp(_pdftotext(path, number))
    worker_cpu = sum(r["cpu_process_s"] + r["cpu_finish_s"] for r in results)
    return {
        "seconds": elapsed,
        "texts": texts,
        "results": results,
        "pdfa_s": pdfa_s,
        "sign_s": sign_s,
        "cpu_s": worker_cpu + main_cpu,
        "main_cpu_s": main_cpu,
        "problems": {k: v for k, v in problems.items() if v},
        "size": sum(p.stat().st_size for p, _ in docs),
    }


def _pdftotext(pdf: Path, page: int) -> str:
    """The page's text in physical layout: rows of the two-column header stay rows, as in the truth.
    (Without -layout pdftotext may move a header column as a block, which costs 3-4% CER on a page
    for either tool without one character being misread.)"""
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout


def _drop_stamp(text: str) -> str:
    """Our page 1 also carries the signature stamp's text (agency, ISO time): not OCR, so not scored."""
    return "\n".join(
        line for line in text.splitlines() if line.strip() != AGENCY and not STAMP_TIME.fullmatch(line.strip())
    )


def _run_ocrmypdf(pages: list[EvalPage], work: Path) -> dict:
    import img2pdf

    source = work / "ocrmypdf-in.pdf"
    source.write_bytes(img2pdf.convert([str(p.path) for p in pages]))  # lossless, page size from the DPI
    out = work / "ocrmypdf-out.pdf"
    exe = shutil.which("ocrmypdf") or str(Path(sys.executable).with_name("ocrmypdf"))
    args = [
        exe,
        "-l",
        "vie",
        "--output-type",
        "pdfa",
        "--rotate-pages",
        "--deskew",
        "-j",
        str(CORES),
        "-q",
        str(source),
        str(out),
    ]
    started = time.perf_counter()
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=3600, env=dict(os.environ, OMP_THREAD_LIMIT="1")
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"ocrmypdf exited with {proc.returncode}: {proc.stderr[-2000:]}")
    texts = [_pdftotext(out, i + 1) for i in range(len(pages))]
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    return {"seconds": elapsed, "texts": texts, "version": version, "size": out.stat().st_size}


def _run_cli(pages: list[EvalPage], work: Path, keys) -> dict:
    """`sohoa pdf` on the PNG files, as a user runs it: the station's processing, OCR on every core, one
    signed PDF/A. The time includes starting the command and its workers."""
    out = work / "cli" / "doc.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    exe = str(Path(sys.executable).with_name("sohoa"))
    args = [exe, "pdf", *[str(p.path) for p in pages], "-o", str(out), "--sign", "--p12", str(keys.agency_p12),
            "--passphrase-file", str(keys.passphrase_file), "--agency", AGENCY, "-j", str(CORES)]
    started, cpu = time.perf_counter(), _cpu()
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    proc = subprocess.run(args, capture_output=True, text=True, timeout=3600, env=env)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"sohoa pdf exited with {proc.returncode}: {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
    texts = [_drop_stamp(_pdftotext(out, i + 1)) for i in range(len(pages))]
    return {"seconds": elapsed, "texts": texts, "cpu_s": _cpu() - cpu, "report": json.loads(proc.stdout)}


def _tesseract_parallel(images: list[Path], dpi: float) -> dict:
    """The limit: plain `tesseract -l vie` alone on the upright pages, one single-thread process per core at
    once, wall clock."""
    from concurrent.futures import ThreadPoolExecutor

    from station.output.ocr import DEFAULT_PSM

    env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def one(image: Path) -> None:
        subprocess.run(
            ["tesseract", str(image), "-", "-l", "vie", "--dpi", str(round(dpi)), "--psm", str(DEFAULT_PSM)],
            capture_output=True, timeout=600, check=True, env=env,
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(CORES) as pool:
        list(pool.map(one, images))
    return {"seconds": time.perf_counter() - started}


def _tesseract_limit(images: list[Path], dpi: float, *, grey: bool = False) -> dict:
    """Single-thread Tesseract, plain text, our recognition settings, one page after the other. With `grey`,
    each image goes in as the chain gives it (8-bit grey through stdin) instead of the derivative file."""
    from station.output.ocr import DEFAULT_PSM, pgm_bytes, read_grey

    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    times, cpu = [], _cpu()
    for image in images:
        data = pgm_bytes(read_grey(image)) if grey else None
        started = time.perf_counter()
        subprocess.run(
            [
                "tesseract",
                "stdin" if grey else str(image),
                "-",
                "-l",
                "vie",
                "--dpi",
                str(round(dpi)),
                "--psm",
                str(DEFAULT_PSM),
            ],
            input=data,
            capture_output=True,
            timeout=600,
            check=True,
            env=env,
        )
        times.append(time.perf_counter() - started)
    return {
        "per_page_s": statistics.mean(times),
        "seconds": sum(times) / CORES,
        "cpu_per_page_s": (_cpu() - cpu) / len(images),
    }


def _tesseract_loaded(images: list[Path], dpi: float) -> dict:
    """For reference: the chain's own Tesseract (the library kept loaded in one child process, grey luma
    through a pipe) one page after the other; its first page pays the load, as in each chain worker."""
    from station.output import tessworker
    from station.output.ocr import ocr_image, read_grey

    times, cpu = [], _cpu()
    for image in images:
        grey = read_grey(image)
        started = time.perf_counter()
        ocr_image(grey, dpi=dpi)
        times.append(time.perf_counter() - started)
    used = _cpu() - cpu
    tessworker.close_all()
    return {"per_page_s": statistics.mean(times), "seconds": sum(times) / CORES, "cpu_per_page_s": used / len(images)}


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
    build_pdfa(
        [PdfPage(sample.path, sample.dpi, None)],
        out=work / "warm.pdf",
        meta=PdfMeta(title="warm", doc_id="W", doc_code="W", agency=AGENCY, created=datetime.now().astimezone()),
    )
    signer.sign(work / "warm.pdf", work / "warm-signed.pdf", agency_name=AGENCY)


def _ppm(n: int, seconds: float) -> float:
    return n / seconds * 60


def main() -> int:
    from station.output.keys import ensure_demo_ca
    from station.output.signing import Signer
    from station.processing.pipeline import JPEG_QUALITY

    count = int(os.environ.get("BENCH_PAGES", "24"))
    doc_pages = int(os.environ.get("BENCH_DOC_PAGES", "4"))
    work = Path(os.environ.get("BENCH_DIR") or tempfile.mkdtemp(prefix="sohoa-bench-ocr-"))
    doc = os.environ.get("BENCH_DOC", str(ROOT / "docs" / "bench" / "output.md"))
    print(f"work folder {work}; {count} pages, {doc_pages} per document; {machine()}", flush=True)
    pages = make_evalset(work / "pages", count=count)
    keys = ensure_demo_ca(work / "keys", agency_name=AGENCY)
    signer = Signer.from_pkcs12(keys.agency_p12, keys.passphrase)
    _warm_signer(signer, work)
    from station.processing.pipeline import derivative_suffix

    derivatives = [work / "derivatives" / f"{p.path.stem}{derivative_suffix()}" for p in pages]
    before = machine()

    whole = _run_chain(pages, work / "ours", signer=signer, doc_pages=doc_pages, whole=True, derivatives=derivatives)
    print(f"ours (whole chain): {whole['seconds']:.1f} s", flush=True)
    finish = _run_chain(
        pages, work / "ours-finish", signer=signer, doc_pages=doc_pages, whole=False, derivatives=derivatives
    )
    print(f"ours (finishing only): {finish['seconds']:.1f} s", flush=True)
    shm = Path(tempfile.mkdtemp(prefix="sohoa-bench-frames-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
        live = _run_chain(
            pages,
            work / "ours-live",
            signer=signer,
            doc_pages=doc_pages,
            whole=True,
            derivatives=[work / "derivatives-live" / d.name for d in derivatives],
            frames=_write_frames(pages, shm),
        )
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    print(f"ours (whole chain from frames in memory): {live['seconds']:.1f} s", flush=True)
    cli = _run_cli(pages, work, keys)
    print(f"sohoa pdf (from files): {cli['seconds']:.1f} s", flush=True)
    parallel = _tesseract_parallel(derivatives, pages[0].dpi)
    print(f"tesseract alone, {CORES} at once: {parallel['seconds']:.1f} s", flush=True)
    limit = _tesseract_limit(derivatives, pages[0].dpi)
    print(f"tesseract alone: {limit['per_page_s']:.2f} s per page", flush=True)
    limit_grey = _tesseract_limit(derivatives, pages[0].dpi, grey=True)
    print(f"tesseract alone, grey input: {limit_grey['per_page_s']:.2f} s per page", flush=True)
    loaded = _tesseract_loaded(derivatives, pages[0].dpi)
    print(f"tesseract kept loaded, grey input: {loaded['per_page_s']:.2f} s per page", flush=True)
    peer = _run_ocrmypdf(pages, work)
    print(f"ocrmypdf: {peer['seconds']:.1f} s", flush=True)
    after = machine()

    ours_cer, ours_wer, ours_pages = _accuracy(pages, whole["texts"])
    peer_cer, peer_wer, peer_pages = _accuracy(pages, peer["texts"])
    n = len(pages)
    ppm = {
        "whole": _ppm(n, whole["seconds"]),
        "finish": _ppm(n, finish["seconds"]),
        "live": _ppm(n, live["seconds"]),
        "ocrmypdf": _ppm(n, peer["seconds"]),
        "limit": _ppm(n, parallel["seconds"]),
        "sequential": _ppm(n, limit["seconds"]),
        "cli": _ppm(n, cli["seconds"]),
    }
    res = whole["results"]
    stage = {
        k: statistics.mean(r[k] for r in res)
        for k in ("process_s", "ocr_s", "prepare_s", "cpu_process_s", "cpu_finish_s")
    }
    n_docs = max(1, -(-n // doc_pages))
    cpu_page = {
        "whole": whole["cpu_s"] / n,
        "live": live["cpu_s"] / n,
        "finish": finish["cpu_s"] / n,
        "limit": limit["cpu_per_page_s"],
        "grey": limit_grey["cpu_per_page_s"],
        "loaded": loaded["cpu_per_page_s"],
    }
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
        f"| `sohoa pdf --sign` on the PNG files (the station's processing, a worker per core) | {ppm['cli']:.1f} | "
        f"{ppm['cli'] / ppm['limit']:.0%} | {_accuracy(pages, cli['texts'])[0]:.3%} | |",
        f"| ours, whole chain (orientation, deskew, OCR, PDF/A, sign) | {ppm['whole']:.1f} | "
        f"{ppm['whole'] / ppm['limit']:.0%} | {ours_cer:.3%} | {ours_wer:.3%} |",
        f"| ours, whole chain from the scanner's frames in memory (no PNG decode: the live capture path) | "
        f"{ppm['live']:.1f} | {ppm['live'] / ppm['limit']:.0%} | {_accuracy(pages, live['texts'])[0]:.3%} | |",
        f"| ours, finishing only (OCR, PDF/A, sign; processing done at capture) | {ppm['finish']:.1f} | "
        f"{ppm['finish'] / ppm['limit']:.0%} | same text | |",
        f"| {peer['version'] and 'OCRmyPDF ' + peer['version']} `-l vie --output-type pdfa --rotate-pages "
        f"--deskew -j 2` | {ppm['ocrmypdf']:.1f} | {ppm['ocrmypdf'] / ppm['limit']:.0%} | {peer_cer:.3%} | "
        f"{peer_wer:.3%} |",
        f"| Tesseract alone, `tesseract -l vie` on the upright pages, {CORES} single-thread processes at once: "
        f"the limit | {ppm['limit']:.1f} | 100% | | |",
        f"| Tesseract alone one page after the other ({limit['per_page_s']:.2f} s/page) ÷ {CORES} cores | "
        f"{ppm['sequential']:.1f} | {ppm['sequential'] / ppm['limit']:.0%} | | |",
        f"| for reference: Tesseract alone given the same pages as grey on stdin, as our chain does "
        f"({limit_grey['per_page_s']:.2f} s/page) | {_ppm(n, limit_grey['seconds']):.1f} | "
        f"{_ppm(n, limit_grey['seconds']) / ppm['limit']:.0%} | | |",
        f"| for reference: the same Tesseract library kept loaded, grey through a pipe, as our chain runs it "
        f"({loaded['per_page_s']:.2f} s/page) | {_ppm(n, loaded['seconds']):.1f} | "
        f"{_ppm(n, loaded['seconds']) / ppm['limit']:.0%} | | |",
        "",
        f"The limit is `tesseract FILE -` on the derivative files (colour JPEG q{JPEG_QUALITY}, the PDF's image "
        "layer) the "
        "whole-chain run wrote, in this run. Our chain gives Tesseract the same page as 8-bit grey (the "
        "JPEG's luma) through a pipe to a Tesseract that stays loaded in a child process per worker "
        "(station.output.tessworker: the same libtesseract, traineddata, resolution and settings, the same "
        "text character for character, without starting the program and loading the model for every page), "
        "so part of the ratio comes from Tesseract itself doing less; the two reference rows show how much.",
        "",
        f"CPU time per page (user + system, all processes, including Tesseract): whole chain "
        f"{cpu_page['whole']:.2f} s (from frames {cpu_page['live']:.2f} s), finishing only "
        f"{cpu_page['finish']:.2f} s, Tesseract alone "
        f"{cpu_page['limit']:.2f} s (grey on stdin {cpu_page['grey']:.2f} s, kept loaded "
        f"{cpu_page['loaded']:.2f} s). With 2 cores busy the ratio "
        f"can at best be {cpu_page['limit'] / cpu_page['whole']:.0%} (whole chain), "
        f"{cpu_page['limit'] / cpu_page['live']:.0%} (from frames) and "
        f"{cpu_page['limit'] / cpu_page['finish']:.0%} (finishing only): the rest of the gap is idle cores.",
        "",
        "Text: `pdftotext -layout` per page (our signature stamp's two lines removed); CER = character "
        "edits (NFC, diacritics count, whitespace runs as one space) / reference characters, summed over pages.",
        "",
        f"Ours against OCRmyPDF: {ppm['whole'] / ppm['ocrmypdf']:.1f}× (whole chain), "
        f"{ppm['finish'] / ppm['ocrmypdf']:.1f}× (finishing only). Target: whole chain ≥ 85% of the limit.",
        "",
        f"Where the time goes, per page in a worker (wall): processing (image load, border, deskew, blank "
        f"score, orientation, quality metrics, QR, derivative JPEG) {stage['process_s']:.2f} s "
        f"(CPU {stage['cpu_process_s']:.2f} s), reading the derivative (the JPEG q{JPEG_QUALITY} image layer, "
        f"kept as it is) and decoding its luma "
        f"{stage['prepare_s']:.2f} s, OCR {stage['ocr_s']:.2f} s (CPU of both {stage['cpu_finish_s']:.2f} s); "
        f"in the main process per document: PDF/A assembly {whole['pdfa_s'] / n_docs:.3f} s, signing in memory "
        f"{whole['sign_s'] / n_docs:.3f} s (main process CPU {whole['main_cpu_s'] / n:.3f} s per page).",
        f"Orientation: {sum(res[i]['rotation'] == pages[i].upright_rotation for i in turned)} of "
        f"{len(turned)} turned pages found"
        f"{'; wrong on ' + ', '.join(wrong_turn) if wrong_turn else ''}; largest skew error "
        f"{skew_err:.2f}°. Output size: ours {whole['size'] / n / 1e6:.2f} MB/page (JPEG q{JPEG_QUALITY}), OCRmyPDF "
        f"{peer['size'] / n / 1e6:.2f} MB/page. PDF/A checker problems: {whole['problems'] or 'none'}.",
        "",
        "CER per page (ours / OCRmyPDF): "
        + ", ".join(
            f"{p.path.stem[-2:]} {'r' + str(p.rotate) + ' ' if p.rotate else ''}{p.skew_deg:+.1f}°: {a:.2%}/{b:.2%}"
            for p, a, b in zip(pages, ours_pages, peer_pages, strict=True)
        ),
    ]
    report = "\n".join(lines)
    print(report)
    if doc != "-":
        write_section(Path(doc), "ocr_chain", report)
        print(f"written to {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
