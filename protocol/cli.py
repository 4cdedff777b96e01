"""`sohoa package ...`: verify a TT05 package offline (and build a sample one)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("package", help="TT05 packages: verify (offline) or build a sample")
    sub = p.add_subparsers(dest="package_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

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
            print(f"sohoa: error: unknown checks {sorted(unknown)}", file=sys.stderr)
            return 2
    roots = []
    for pem in args.trust:
        try:
            roots.append(pem.read_bytes())
        except OSError as exc:
            print(f"sohoa: error: cannot read trust root {pem}: {exc}", file=sys.stderr)
            return 2
    verdict = run_checks(args.path, trust_roots=roots, expected_sheets=args.expected_sheets, only=only)
    report = dict(verdict.to_dict(), path=str(args.path))
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if verdict.ok else 1


def build_sample(args: argparse.Namespace) -> int:
    from protocol.package.sample import build_sample as build

    built = build(args.out_dir, kind=args.kind)
    print(json.dumps({"path": str(built.path), "objid": built.objid, "sha256": built.sha256,
                      "size": built.size}, ensure_ascii=False))
    return 0
