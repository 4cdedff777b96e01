"""`sohoa devices`, `sohoa scan`, `sohoa reconcile`: capture without the UI, for scripts and measuring.

`scan` prints one `captured ...` line per page, flushed, only after the page is journalled (the crash
test relies on it: a printed page must survive a kill -9). Exit codes: 0 done, 2 refused, 3 scanner fault.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from protocol.errors import CommandError, ExitCode

EXIT_FAULT = ExitCode.SCAN_FAULT


def register(subparsers: Any) -> None:
    devices = subparsers.add_parser("devices", help="list SANE scanners")
    devices.add_argument("--timeout", type=float, default=5.0, help="give up discovery after this many seconds")
    _sane_args(devices)
    devices.set_defaults(func=cmd_devices)

    scan = subparsers.add_parser("scan", help="capture pages into a batch folder's journal, without the UI")
    what = scan.add_mutually_exclusive_group(required=True)
    what.add_argument("--device", help="SANE device id, e.g. test:0 or fujitsu:libusb:001:004")
    what.add_argument("--import", dest="import_folder", type=Path, help="a folder of TIFF/PNG/JPEG pages")
    scan.add_argument("--batch", type=Path, required=True, help="data folder (station.db + pages/)")
    scan.add_argument("--source", choices=("flatbed", "adf", "adf_duplex"), default="adf")
    scan.add_argument("--dpi", type=int, default=300)
    scan.add_argument("--page-size", default="A4")
    scan.add_argument("--import-dpi", type=float, help="resolution of imported files that carry none")
    scan.add_argument("--profile", type=Path, help="scanner profile file (default: by backend)")
    scan.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                      help="raw backend option set after the profile's (checked against the device)")
    scan.add_argument("--runs", type=int, default=1, help="feed the ADF this many times (scan more)")
    scan.add_argument("--file-code", default="SOHOA.SCAN", help="file code for a new batch")
    scan.add_argument("--actor", default="cli")
    scan.add_argument("--format", dest="image_format", choices=("png", "tiff"), default="png",
                      help="lossless format of the originals (tiff: uncompressed, 26 MB per A4 page)")
    scan.add_argument("--min-free-mb", type=float, default=500.0,
                      help="refuse to start / stop cleanly below this much free space in --batch")
    _sane_args(scan)
    scan.set_defaults(func=cmd_scan)

    reconcile = subparsers.add_parser("reconcile", help="check a batch folder's files against its journal")
    reconcile.add_argument("--batch", type=Path, required=True)
    reconcile.set_defaults(func=cmd_reconcile)


def _sane_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sane-backends", help="comma-separated backends for a private SANE config (e.g. test);"
                        " default: the system's /etc/sane.d")


def _prepare_sane(args: argparse.Namespace, folder: Path | None = None) -> None:
    if args.sane_backends:
        from station.capture.saneenv import prepare_sane_config

        target = folder or Path(tempfile.mkdtemp(prefix="sohoa-sane-"))
        prepare_sane_config(target, backends=tuple(args.sane_backends.split(",")))


def _error(message: str) -> Exception:
    return CommandError(message)


def cmd_devices(args: argparse.Namespace) -> int:
    from station.capture.sane_source import discover as list_devices

    _prepare_sane(args)
    devices = list_devices(args.timeout)
    if not devices:
        print("no scanners found")
    for device in devices:
        print(f"{device['id']}\t{device['vendor']} {device['model']}\t{device['type']}")
    return 0


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _open_batch(store: Any, file_code: str, actor: str) -> int:
    from station.store import BatchState

    rows = store.query("SELECT id FROM batches WHERE state = ? ORDER BY id DESC LIMIT 1", (BatchState.OPEN,))
    if rows:
        return int(rows[0]["id"])
    return int(store.create_batch(file_code=file_code, record={}, expected_sheets=None, work_order_id=None,
                                  operator=actor)["id"])


def _require_batch(folder: Path) -> None:
    """Reconcile only a batch folder (`sohoa scan --batch` made it: its journal station.db holds the pages
    table). Anything else is refused before a byte is written: reconciling a stranger's folder would
    create a journal there and quarantine every file in it."""
    import sqlite3


    if not folder.exists():
        raise CommandError(f"reconcile: {folder} does not exist: give the batch folder `sohoa scan --batch` wrote")
    if not folder.is_dir():
        raise CommandError(f"reconcile: {folder} is not a folder: give a batch folder (it holds station.db)")
    journal = folder / "station.db"
    if not journal.is_file():
        raise CommandError(f"reconcile: {folder} is not a batch folder (no station.db journal): nothing written")
    try:
        conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            ok = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pages'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise CommandError(f"reconcile: {journal} is not a station journal ({exc}): nothing written") from exc
    if not ok:
        raise CommandError(f"reconcile: {journal} has no pages table: not a batch journal, nothing written")


def cmd_reconcile(args: argparse.Namespace) -> int:
    from station.capture.journal import Journal
    from station.store import Store

    _require_batch(args.batch)
    report = Journal(Store(args.batch / "station.db"), args.batch).reconcile()
    print(f"checked={report.checked} quarantined={len(report.quarantined)} missing={len(report.missing)}"
          f" corrupt={len(report.corrupt)}")
    for path in report.quarantined:
        print(f"quarantined {path}")
    for row in report.missing:
        print(f"missing seq={row['seq']} path={row['path']}")
    for row in report.corrupt:
        print(f"corrupt seq={row['seq']} path={row['path']}")
    return 0 if not (report.missing or report.corrupt) else 1


def cmd_scan(args: argparse.Namespace) -> int:
    from station.capture.journal import Journal
    from station.capture.service import CaptureService
    from station.capture.source import CaptureRefused, ScanRequest, open_source
    from station.store import Store

    args.batch.mkdir(parents=True, exist_ok=True)
    _prepare_sane(args, args.batch / "sane-config")
    store = Store(args.batch / "station.db")
    journal = Journal(store, args.batch, image_format=args.image_format, min_free_mb=args.min_free_mb)
    report = journal.reconcile()  # start-up: never build on a half-written page
    if not report.clean:
        print(f"reconcile: quarantined={len(report.quarantined)} missing={len(report.missing)}"
              f" corrupt={len(report.corrupt)}", file=sys.stderr)
    batch_id = _open_batch(store, args.file_code, args.actor)
    try:
        options = dict(_split(o) for o in args.option)
        if args.import_folder:
            source = open_source("import", folder=args.import_folder, dpi=args.import_dpi)
        else:
            source = open_source("sane", device=args.device, profile=args.profile, options=options)
        request = ScanRequest(source=args.source, dpi=args.dpi, page_size=args.page_size)
    except CaptureRefused as exc:
        raise _error(exc.message) from exc

    service = CaptureService(store, journal)
    service.add_listener(on_page=_print_page)
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    started, pages, outcome = time.monotonic(), 0, None
    try:
        for _ in range(max(args.runs, 1)):
            try:
                service.start(batch_id, source, request, actor=args.actor)
            except CaptureRefused as exc:
                raise _error(exc.message) from exc
            outcome = service.wait(source.id)
            pages += outcome.pages if outcome else 0
            if outcome is None or outcome.ended in ("fault", "stopped"):
                break
    except KeyboardInterrupt:
        service.stop()
        outcome = service.wait(source.id)
    finally:
        service.close()
    seconds = time.monotonic() - started
    problem = service.fault(source.id)
    ended = outcome.ended if outcome else "fault"
    print(f"ended={ended} pages={pages} batch={batch_id} seconds={seconds:.2f}"
          f" pages_per_minute={pages / seconds * 60 if seconds else 0:.1f}", flush=True)
    if problem is not None:
        print(f"fault: {problem.code}: {problem.message}", file=sys.stderr)
        return EXIT_FAULT
    return 0


def _split(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise _error(f"--option wants NAME=VALUE, got {text!r}")
    return name.strip(), _value(value.strip())


def _print_page(row: dict) -> None:
    print(f"captured seq={row['seq']} sheet={row['sheet']} side={row['side']} sha256={row['sha256']}"
          f" path={row['path']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """`python -m station.capture.cli ...`: the capture commands alone (quicker to start than `sohoa`)."""
    import logging

    parser = argparse.ArgumentParser(prog="sohoa-capture")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    try:
        return int(args.func(args))
    except CommandError as exc:
        print(f"sohoa: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
