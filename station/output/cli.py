"""`sohoa pdf` (images → OCR → PDF/A-2b → optional signature) and `sohoa verify-pdf` (JSON verdict)."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from protocol.clock import now_vn
from protocol.errors import CommandError
from protocol.pdfa_check import check_pdfa
from protocol.scratch import scratch
from protocol.signatures import validate_pdf_signatures

if TYPE_CHECKING:
    from station.processing.config import ProcessingConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    pdf = subparsers.add_parser(
        "pdf",
        help="page images to a two-layer PDF/A-2b: the station's processing (deskew, orientation, crop, "
        "blank and quality flags), OCR on every core, optional signing; JSON report",
    )
    pdf.add_argument("images", nargs="+", type=Path, help="page images in order, or folders of them")
    pdf.add_argument("-o", "--output", type=Path, required=True, help="the PDF to write")
    pdf.add_argument("--dpi", type=float, help="capture DPI (default: read from the first image)")
    pdf.add_argument("--lang", default="vie", help="Tesseract languages (default vie)")
    pdf.add_argument("--title", default="", help="trích yếu (default: the output's name)")
    pdf.add_argument("--doc-id", default="", help="docId (default: the output's stem)")
    pdf.add_argument("--doc-code", default="")
    pdf.add_argument("--agency", default="", help="agency name (metadata and signature stamp)")
    pdf.add_argument("--sign", action="store_true", help="sign with the agency key after PDF/A")
    pdf.add_argument("--p12", type=Path, help="PKCS#12 file with the agency key")
    pdf.add_argument("--passphrase-file", type=Path, help="file holding the PKCS#12 passphrase")
    pdf.add_argument("--invisible", action="store_true", help="sign without the visible stamp")
    pdf.add_argument("--no-process", action="store_true",
                     help="the images are already processed (upright, straight, cropped): OCR only")
    pdf.add_argument("--config", type=Path,
                     help="station.toml (its [processing] table) or a processing TOML: thresholds")
    pdf.add_argument("-j", "--jobs", type=int, default=0, help="workers, one Tesseract each (default: one per core)")
    pdf.add_argument("--report", type=Path, help="also write the JSON report to this file")
    pdf.set_defaults(func=run_pdf)

    verify = subparsers.add_parser("verify-pdf", help="check PDF/A-2b rules and the signature; JSON out")
    verify.add_argument("file", type=Path)
    verify.add_argument("--trust", type=Path, action="append", default=[],
                        help="trusted root certificate (PEM or DER); repeatable")
    verify.set_defaults(func=run_verify)


def _error(message: str) -> Exception:
    return CommandError(message)


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".pnm", ".pgm", ".ppm", ".jp2"}


def _image_dpi(path: Path) -> float | None:
    try:
        with Image.open(path) as image:
            dpi = image.info.get("dpi")
    except Exception:  # noqa: BLE001 - not an image: the worker says what it is
        return None
    if not dpi or float(dpi[0]) <= 1:
        return None
    value = float(dpi[0])
    return float(round(value)) if abs(value - round(value)) < 0.01 else value  # PNG keeps dots per metre


def _inputs(paths: list[Path]) -> list[Path]:
    """The files in order: each argument, or the images of a folder by name."""
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif path.exists():
            files.append(path)
        else:
            raise _error(f"no such image or folder: {path}")
    if not files:
        raise _error("no images given (folders hold no .png/.jpg/.tif files)")
    return files


def _processing_config(path: Path | None) -> ProcessingConfig:
    from station.processing.config import ProcessingConfig, load_config

    if path is None:
        return ProcessingConfig()
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        if "data_dir" in data:  # a station.toml: its [processing] table, checked as the station does
            from station.config import load_config as load_station

            return load_station(path).processing
        return load_config(path)
    except (OSError, ValueError) as exc:
        raise _error(f"config {path}: {exc}") from exc


def _init_worker() -> None:
    import os

    os.environ["OMP_THREAD_LIMIT"] = "1"  # one core per Tesseract: the workers are the parallelism
    import cv2

    cv2.setNumThreads(1)


def _digitise(args: tuple) -> dict:
    """In a worker: one file to a finished page, or the reason it could not be."""
    from station.output.pages import digitise_page
    from station.processing.pipeline import ProcessingError

    src, dpi, lang, out_path, config, process = args
    try:
        record, finished = digitise_page(
            Path(src), dpi=dpi, lang=lang, out_path=Path(out_path), config=config, process=process
        )
    except ProcessingError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
        return {"error": f"{src}: {type(exc).__name__}: {exc}"}
    return {"record": record, "finished": finished}


class _Progress:
    """A one-line bar on a terminal (stderr); silent otherwise, so scripts get only the JSON."""

    def __init__(self, total: int):
        self.total, self.done, self.started = total, 0, time.perf_counter()
        self.tty = sys.stderr.isatty()

    def step(self) -> None:
        self.done += 1
        if self.tty:
            rate = self.done / max(time.perf_counter() - self.started, 1e-6) * 60
            bar = "#" * (30 * self.done // self.total)
            sys.stderr.write(f"\r[{bar:<30}] {self.done}/{self.total} pages, {rate:.1f} pages/min")
            sys.stderr.flush()
            if self.done == self.total:
                sys.stderr.write("\n")


def run_pdf(args: argparse.Namespace) -> int:
    from concurrent.futures import ProcessPoolExecutor

    from station.output.document import write_document
    from station.output.pdfa import PdfBuildError, PdfMeta
    from station.output.signing import Signer, SigningError
    from station.processing.pipeline import inspect_image

    if args.sign and not (args.p12 and args.agency):
        raise _error("--sign needs --p12 and --agency")
    files = _inputs(args.images)
    config = None if args.no_process else _processing_config(args.config)
    signer = None
    if args.sign:  # the key is opened before hours of OCR, so a wrong passphrase stops at once
        passphrase = args.passphrase_file.read_bytes().strip() if args.passphrase_file else None
        try:
            signer = Signer.from_pkcs12(args.p12, passphrase)
        except SigningError as exc:
            raise _error(exc.message) from exc
    started = time.perf_counter()
    out: Path = args.output
    workers = args.jobs or os.cpu_count() or 1
    pages: list[dict] = []
    with scratch("pdf") as tmp:
        jobs = []
        for i, src in enumerate(files):
            dpi = args.dpi or _image_dpi(src)
            pages.append({"image": str(src), "dpi": dpi})
            problem = inspect_image(src)
            if problem:
                pages[-1]["error"] = problem
                continue
            if dpi is None:
                pages[-1]["error"] = f"{src} stores no resolution (DPI): pass --dpi"
                continue
            jobs.append((i, (str(src), dpi, args.lang, str(Path(tmp) / f"{i:05d}.jpg"), config, not args.no_process)))
        progress = _Progress(len(files))
        for _ in range(len(files) - len(jobs)):
            progress.step()
        done: dict[int, dict] = {}
        # spawn, not fork: this process has run OpenCV, whose threads' locks a forked worker would inherit held
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=spawn, initializer=_init_worker) as pool:
            futures = {pool.submit(_digitise, job): i for i, job in jobs}
            for future in futures:  # in page order; the workers run ahead
                done[futures[future]] = future.result()
                progress.step()
        images, finished = [], []
        for i, page in enumerate(pages):
            result = done.get(i, {})
            if "error" in result:
                page["error"] = result["error"]
            if "finished" not in result:
                continue
            record, fin = result["record"], result["finished"]
            if record is not None:
                page.update(
                    rotation=record["rotation"],
                    rotation_method=record["rotation_method"],
                    deskew_deg=record["angle"],
                    blank=record["blank"],
                    flags=[f["code"] for f in record["flags"]],
                )
            if not fin.ok:
                page["error"] = f"OCR failed: {fin.error} (the page is in the PDF without text)"
            page["ocr_confidence"] = round(fin.confidence, 1)
            path = Path(record["derivative_path"]) if record is not None else Path(page["image"])
            images.append((path, page["dpi"]))
            finished.append(fin)
        if not finished:
            _write_report({"output": None, "pages": pages, "failed": len(pages)}, args.report)
            return 1
        meta = PdfMeta(title=args.title or out.stem, doc_id=args.doc_id or out.stem, doc_code=args.doc_code,
                       agency=args.agency or "sohoa", created=now_vn())
        try:
            built = write_document(
                images, finished, meta=meta, out=out, signer=signer, agency_name=args.agency,
                visible=not args.invisible,
            )
        except PdfBuildError as exc:
            raise _error(exc.message) from exc
        except SigningError as exc:
            raise _error(exc.message) from exc
    failed = sum(1 for p in pages if "error" in p)
    report: dict[str, Any] = {
        "output": str(out),
        "pages": pages,
        "page_count": len(finished),
        "failed": failed,
        "processed": not args.no_process,
        "workers": workers,
    }
    if built.signed is not None:
        report["signed_at"] = built.signed.signed_at
        report["signer"] = built.signed.signer_subject
    report["pdfa_problems"] = built.pdfa_problems
    report["size"] = out.stat().st_size
    report["seconds"] = round(time.perf_counter() - started, 2)
    report["pages_per_minute"] = round(len(files) / max(report["seconds"], 1e-6) * 60, 1)
    _write_report(report, args.report)
    return 0 if not report["pdfa_problems"] and not failed else 1


def _write_report(report: dict, path: Path | None) -> None:
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    if path is not None:
        path.write_text(text + "\n", encoding="utf-8")


def run_verify(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise _error(f"no such file: {args.file}")
    problems = check_pdfa(args.file)
    verdict: dict = {"file": str(args.file), "pdfa_problems": problems}
    ok = not problems
    if args.trust:
        signature = validate_pdf_signatures(args.file, trust_roots=[p.read_bytes() for p in args.trust])
        verdict["signature"] = signature.as_dict()
        ok = ok and signature.ok
    else:
        verdict["signature"] = None  # no trust root given: the signature was not checked
    verdict["ok"] = ok
    print(json.dumps(verdict, ensure_ascii=False, indent=2))
    return 0 if ok else 1
