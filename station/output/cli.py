"""`sohoa pdf` (images → OCR → PDF/A-2b → optional signature) and `sohoa verify-pdf` (JSON verdict)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from PIL import Image

from protocol.clock import now_vn
from protocol.pdfa_check import check_pdfa
from protocol.signatures import validate_pdf_signatures


def register(subparsers) -> None:
    pdf = subparsers.add_parser("pdf", help="page images to a two-layer PDF/A-2b (OCR, optional signing)")
    pdf.add_argument("images", nargs="+", type=Path, help="page images in order")
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
    pdf.set_defaults(func=run_pdf)

    verify = subparsers.add_parser("verify-pdf", help="check PDF/A-2b rules and the signature; JSON out")
    verify.add_argument("file", type=Path)
    verify.add_argument("--trust", type=Path, action="append", default=[],
                        help="trusted root certificate (PEM or DER); repeatable")
    verify.set_defaults(func=run_verify)


def _error(message: str, code: int = 2) -> Exception:
    from sohoa.cli import CommandError  # imported late: sohoa.cli imports this module

    return CommandError(message, code)


def _image_dpi(path: Path) -> float:
    with Image.open(path) as image:
        dpi = image.info.get("dpi")
    if not dpi:
        raise _error(f"{path} stores no DPI; pass --dpi")
    return float(dpi[0])


def run_pdf(args: argparse.Namespace) -> int:
    from station.output.ocr import OcrError, ocr_page
    from station.output.pdfa import PdfBuildError, PdfMeta, PdfPage, build_pdfa
    from station.output.signing import Signer, SigningError

    if args.sign and not (args.p12 and args.agency):
        raise _error("--sign needs --p12 and --agency")
    for image in args.images:
        if not image.is_file():
            raise _error(f"no such image: {image}")
    dpi = args.dpi or _image_dpi(args.images[0])
    started = time.perf_counter()
    pages, flagged = [], []
    for image in args.images:
        try:
            text_pdf = ocr_page(image, dpi=dpi, lang=args.lang).text_pdf
        except OcrError as exc:  # the page still goes in, flagged, without text
            flagged.append({"image": str(image), "error": exc.message})
            text_pdf = None
        pages.append(PdfPage(image_path=image, dpi=dpi, text_pdf=text_pdf))
    out: Path = args.output
    meta = PdfMeta(title=args.title or out.stem, doc_id=args.doc_id or out.stem, doc_code=args.doc_code,
                   agency=args.agency or "sohoa", created=now_vn())
    try:
        info = build_pdfa(pages, out=out, meta=meta)
    except PdfBuildError as exc:
        raise _error(exc.message) from exc
    report: dict = {"output": str(out), "pages": info.page_count, "ocr_failed": flagged}
    if args.sign:
        passphrase = args.passphrase_file.read_bytes().strip() if args.passphrase_file else None
        try:
            signer = Signer.from_pkcs12(args.p12, passphrase)
            result = signer.sign(out, out, agency_name=args.agency, visible=not args.invisible)
        except SigningError as exc:
            raise _error(f"{exc.message} (the unsigned PDF/A is at {out})") from exc
        report["signed_at"] = result.signed_at
        report["signer"] = result.signer_subject
    report["pdfa_problems"] = check_pdfa(out)
    report["size"] = out.stat().st_size
    report["seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if not report["pdfa_problems"] and not flagged else 1


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
