"""`sohoa` command line. Each part registers its own subcommands; exceptions become exit codes here only."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from protocol.config import ConfigError
from protocol.errors import ExitCode, UserError, incident_id
from sohoa import __version__
from sohoa.logs import FORMATS, setup_logging

#: Modules that expose `register(subparsers)`; each subcommand sets `func(args) -> int`.
COMMAND_MODULES = [
    "sohoa.demo",
    "station.cli",
    "station.enroll_cli",
    "station.capture.cli",
    "station.processing.cli",
    "station.output.cli",
    "server.cli",
    "sohoa.package_cli",
    "sohoa.appliance.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sohoa", description="Digitise paper archives (TT05).")
    parser.add_argument("--version", action="version", version=f"sohoa {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--log-format", choices=FORMATS, default="auto",
                        help="auto: the journal under systemd, else text lines on stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency, not a part that is not written yet
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not [h for h in logging.getLogger().handlers if h.get_name() != "sohoa"]:  # as basicConfig: a host
        # program (a test calling main()) that set up logging keeps it
        setup_logging(fmt=args.log_format, level=logging.DEBUG if args.verbose else logging.INFO,
                      identifier=f"sohoa-{args.command}" if getattr(args, "command", None) else "sohoa")
    if not getattr(args, "func", None):
        parser.print_help()
        return ExitCode.USAGE
    # The one place exceptions become exit codes (protocol.errors): a UserError is one line and its exit code,
    # anything else is a bug, logged with its traceback under an incident id.
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:  # any command, at start: one line (file, key, what is expected), exit 78
        print(f"sohoa: configuration error: {exc}", file=sys.stderr)
        return exc.exit_code
    except UserError as exc:
        print(f"sohoa: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception:
        incident = incident_id()
        logging.getLogger("sohoa").exception("unexpected error (incident %s)", incident)
        print(f"sohoa: internal error (incident {incident}); see the log", file=sys.stderr)
        return ExitCode.SOFTWARE



if __name__ == "__main__":
    # Run as `python -m sohoa.cli`: delegate to the imported module (one copy of its module state).
    from sohoa.cli import main as _main

    sys.exit(_main())
