"""`sohoa station-enroll`: give this station its identity from a one-time code the admin created."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from protocol.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("station-enroll", help="enroll this station at the archive server with a one-time code")
    p.add_argument("--server", required=True, help="the server's URL, e.g. https://archive.example.gov.vn")
    p.add_argument("--code", required=True, help="the enrollment code from the admin's Stations page")
    p.add_argument("--data", default="/var/lib/sohoa/station", help="station data folder (secrets go here)")
    p.add_argument("--ca", help="the archive's CA certificate (PEM) to verify the server with")
    p.add_argument("--station-id", help="refuse a code made for another station id")
    p.add_argument("--config", type=Path, help="also set the keys in this station.toml")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from station.enroll import EnrollError, enroll, update_station_toml

    try:
        result = enroll(args.server, args.code, args.data, ca_file=args.ca, station_id=args.station_id)
    except EnrollError as exc:
        raise CommandError(exc.message) from exc
    if args.config:
        update_station_toml(args.config, result["settings"])
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "fragment"}, ensure_ascii=False, indent=2))
    else:
        print(f"# station {result['station_id']} enrolled; settings in {result['fragment_path']}")
        print(result["fragment"], end="")
    return 0
