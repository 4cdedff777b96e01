"""`sohoa package ...`: verify a TT05 package offline (and build a sample one). Here, not in protocol/: verify
runs the server's registry of checks, and only sohoa/ may know both sides."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from protocol.errors import CommandError, ExitCode


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("package", help="TT05 packages: verify (offline) or build a sample")
    sub = p.add_subparsers(dest="package_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), ExitCode.USAGE)[1])

    v = sub.add_parser("verify", help="run every archive check on a .zip or folder; JSON report on stdout")
    v.add_argument("path", type=Path)
    v.add_argument("--trust", action="append", type=Path, default=[],
                   help="PEM file of a trusted agency root CA (repeatable)")
    v.add_argument("--expected-sheets", type=int, help="sheet count of the work order (numberOfPaper)")
    v.add_argument("--only", help="comma-separated check names, or 'structural' (all but pdfa, signatures)")
    v.set_defaults(func=verify)

    b = sub.add_parser("build-sample", help="build a small valid sample package (for demos and tests)")
    b.add_argument("out_dir", type=Path)
    b.add_argument("--kind", choices=["AIP", "SIP"], default="AIP")
    b.set_defaults(func=build_sample)


def verify(args: argparse.Namespace) -> int:
    """Exit 0 when every check passed, 1 when the package is rejected (2 for usage errors)."""
    from server.checks import CHECKS, STRUCTURAL, run_checks

    only = None
    if args.only:
        only = STRUCTURAL if args.only == "structural" else [n.strip() for n in args.only.split(",")]
        unknown = set(only) - {n for n, _ in CHECKS}
        if unknown:
            raise CommandError(f"unknown checks {sorted(unknown)}")
    roots = []
    for pem in args.trust:
        try:
            roots.append(pem.read_bytes())
        except OSError as exc:
            raise CommandError(f"cannot read trust root {pem}: {exc}") from exc
    verdict = run_checks(args.path, trust_roots=roots, expected_sheets=args.expected_sheets, only=only)
    report = dict(verdict.to_dict(), path=str(args.path))
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return ExitCode.OK if verdict.ok else ExitCode.FAILED


def build_sample(args: argparse.Namespace) -> int:
    from protocol.package.sample import build_sample as build

    built = build(args.out_dir, kind=args.kind)
    print(json.dumps({"path": str(built.path), "objid": built.objid, "sha256": built.sha256,
                      "size": built.size}, ensure_ascii=False))
    return 0
