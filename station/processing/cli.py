"""`sohoa process IMAGES... --out DIR`: process image files, write derivatives and a JSON report per page.
`sohoa sheets --file-code CODE --title T -o sheets.pdf`: print a cover sheet and separator sheets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from protocol.durable import write_atomic
from protocol.errors import CommandError
from station.processing.config import ConfigError, load_config
from station.processing.pipeline import ProcessingError, derivative_suffix, process_page
from station.processing.separators import SheetError, sheets_pdf


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "process",
        help="deskew, crop, orient, check blank/quality of page images",
        description="Process page images; writes DIR/<name>.jpg (or .png, per the config) and DIR/<name>.json.",
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGES")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--dpi", type=float, default=None, help="capture resolution (default: from the image file, else 300)"
    )
    parser.add_argument("--config", type=Path, default=None, help="TOML file of processing thresholds")
    parser.set_defaults(func=run)
    sheets = subparsers.add_parser(
        "sheets",
        help="print cover and separator sheets (PDF) for a hồ sơ",
        description="A PDF with one cover sheet (QR with the hồ sơ code) and "
        "separator sheets (QR: a new document starts after it).",
    )
    sheets.add_argument("--file-code", required=True, help="hồ sơ code, e.g. H01.12.03/2024-0001")
    sheets.add_argument("--title", default="", help="hồ sơ title (Vietnamese)")
    sheets.add_argument("--sheets", type=int, default=None, help="expected number of sheets")
    sheets.add_argument("--separators", type=int, default=1, help="how many separator sheets (default 1)")
    sheets.add_argument("-o", "--output", required=True, type=Path, help="PDF file to write")
    sheets.set_defaults(func=run_sheets)


def _file_dpi(path: Path) -> float | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            dpi = im.info.get("dpi")
    except OSError:
        return None
    if not dpi or not dpi[0] or dpi[0] <= 1:
        return None
    value = float(dpi[0])  # PNG stores pixels per metre: 300 dpi comes back as 299.9994
    return float(round(value)) if abs(value - round(value)) < 0.05 else value


def run(args: argparse.Namespace) -> int:

    try:
        config = load_config(args.config) if args.config else None
    except (OSError, ConfigError) as exc:
        raise CommandError(str(exc)) from exc
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for src in args.images:
        if not src.is_file():
            raise CommandError(f"no such image: {src}")
        dpi = args.dpi or _file_dpi(src) or 300.0
        try:
            out = args.out / (src.stem + derivative_suffix(config))
            result = process_page(src, dpi=dpi, out_path=out, config=config)
        except ProcessingError as exc:
            print(f"{src}: error: {exc}")
            failed += 1
            continue
        report = {"source": str(src), **result.to_dict()}
        write_atomic(args.out / f"{src.stem}.json", json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8"))
        codes = ",".join(f["code"] for f in result.flags) or "ok"
        print(
            f"{src}: angle {result.angle:+.2f}° rotation {result.rotation} "
            f"blank {'yes' if result.blank else 'no'} ({result.blank_score:.1f}) [{codes}]"
        )
    return 1 if failed else 0


def run_sheets(args: argparse.Namespace) -> int:

    if args.separators < 0 or (args.sheets is not None and args.sheets < 1):
        raise CommandError("--separators must be ≥ 0 and --sheets ≥ 1")
    try:
        pdf = sheets_pdf(args.file_code, title=args.title, expected_sheets=args.sheets, separators=args.separators)
    except SheetError as exc:
        raise CommandError(str(exc)) from exc
    write_atomic(args.output, pdf)
    print(f"{args.output}: 1 cover sheet + {args.separators} separator sheet(s) for {args.file_code}")
    return 0
