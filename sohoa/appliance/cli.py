"""`sohoa config check`, `sohoa status`, `sohoa server-backup`, `sohoa server-restore`, `sohoa tls`,
`sohoa wait-http`: thin commands around sohoa.appliance. Exit codes: 0 fine, 1 problems found, 2 usage."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from protocol.errors import CommandError, ExitCode

ETC = Path("/etc/sohoa")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("config", help="configuration tools")
    sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    c = sub.add_parser("check", help="validate station.toml / server.toml, reporting every problem at once")
    c.add_argument("--station", type=Path, help=f"station.toml (default {ETC}/station.toml if present)")
    c.add_argument("--server", type=Path, help=f"server.toml (default {ETC}/server.toml if present)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=config_check)

    s = subparsers.add_parser("status", help="services, queues, disk space, last sync, certificate expiry")
    s.add_argument("--station", type=Path, help=f"station.toml (default {ETC}/station.toml if present)")
    s.add_argument("--server", type=Path, help=f"server.toml (default {ETC}/server.toml if present)")
    s.add_argument("--tls", type=Path, action="append", default=[], help="a certificate file to watch (repeatable)")
    s.add_argument("--backups", type=Path, help="the server backup folder (default /var/backups/sohoa if present)")
    s.add_argument("--no-services", action="store_true", help="do not ask systemd")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=status)

    b = subparsers.add_parser("server-backup", help="back up the package store, catalog and server database")
    b.add_argument("--config", type=Path, default=ETC / "server.toml")
    b.add_argument("--to", type=Path, default=Path("/var/backups/sohoa"), help="folder holding the backups")
    b.add_argument("--keep", type=int, default=0, help="then delete all but the newest KEEP backups")
    b.add_argument("--no-link", action="store_true", help="copy every package even if the last backup has it")
    b.add_argument("--verify", type=Path, metavar="BACKUP", help="only re-hash an existing backup")
    b.set_defaults(func=server_backup)

    r = subparsers.add_parser("server-restore", help="restore a server backup into an empty data folder")
    r.add_argument("backup", type=Path)
    r.add_argument("--data", type=Path, required=True, help="the empty (or new) data_dir to restore into")
    r.set_defaults(func=server_restore)

    t = subparsers.add_parser("tls", help="private CA and HTTPS certificate for the server")
    tsub = t.add_subparsers(dest="tls_command", metavar="ACTION", required=True)
    ca = tsub.add_parser("make-ca", help="create ca.crt and ca.key (0600)")
    ca.add_argument("--dir", type=Path, default=ETC / "tls")
    ca.add_argument("--name", required=True, help="the CA's common name, e.g. the archive's name")
    ca.set_defaults(func=tls_make_ca)
    sc = tsub.add_parser("server-cert", help="issue the server certificate nginx presents")
    sc.add_argument("--dir", type=Path, default=ETC / "tls")
    sc.add_argument("--host", action="append", default=[], help="DNS name (repeatable)")
    sc.add_argument("--ip", action="append", default=[], help="IP address (repeatable)")
    sc.add_argument("--days", type=int, default=825)
    sc.set_defaults(func=tls_server_cert)

    w = subparsers.add_parser("wait-http", help="wait until a URL answers (the kiosk waits for the station UI)")
    w.add_argument("url")
    w.add_argument("--timeout", type=float, default=120.0)
    w.set_defaults(func=wait_http)


def _error(message: str, code: ExitCode = ExitCode.USAGE) -> Exception:
    return CommandError(message, exit_code=code)


def _default(given: Path | None, name: str) -> Path | None:
    if given is not None:
        return given
    return ETC / name if (ETC / name).exists() else None


def config_check(args: argparse.Namespace) -> int:
    from sohoa.appliance.config_check import check_server_config, check_station_config, has_errors

    station, server = _default(args.station, "station.toml"), _default(args.server, "server.toml")
    if not station and not server:
        raise _error(f"no configuration found in {ETC}: pass --station or --server")
    results = {}
    if station:
        results[str(station)] = check_station_config(station)
    if server:
        results[str(server)] = check_server_config(server)
    if args.json:
        print(json.dumps({k: [p.to_dict() for p in v] for k, v in results.items()}, ensure_ascii=False, indent=1))
    else:
        for path, problems in results.items():
            errors = sum(not p.warning for p in problems)
            print(f"{path}: {errors} error(s), {len(problems) - errors} warning(s)")
            for problem in problems:
                print("  " + problem.line())
    return 1 if any(has_errors(p) for p in results.values()) else 0


def status(args: argparse.Namespace) -> int:
    from sohoa.appliance import status as st

    station, server = _default(args.station, "station.toml"), _default(args.server, "server.toml")
    if not station and not server:
        raise _error(f"no configuration found in {ETC}: pass --station or --server")
    checks: list[st.Check] = []
    try:
        if station:
            from station.config import load_config

            checks += st.station_status(load_config(station), units=() if args.no_services else st.STATION_UNITS,
                                        tls_files=tuple(args.tls))
        if server:
            from server.config import load_config as load_server

            backups = args.backups or (Path("/var/backups/sohoa") if Path("/var/backups/sohoa").is_dir() else None)
            checks += st.server_status(load_server(server), units=() if args.no_services else st.SERVER_UNITS,
                                       tls_files=tuple(args.tls) if not station else (), backups=backups)
    except (OSError, ValueError) as exc:
        raise _error(f"{exc} (run `sohoa config check`)") from exc
    if args.json:
        print(json.dumps({"overall": st.worst(checks), "checks": st.to_json(checks)}, ensure_ascii=False, indent=1))
    else:
        for check in checks:
            print(check.line())
    return 1 if st.worst(checks) == st.ERROR else 0


def server_backup(args: argparse.Namespace) -> int:
    from sohoa.appliance import backup

    try:
        if args.verify:
            problems = backup.verify_backup(args.verify)
            for line in problems:
                print(line)
            print(f"{args.verify}: {'damaged' if problems else 'sound'}")
            return 1 if problems else 0
        from server.config import load_config

        config = load_config(args.config)
        previous = backup.list_backups(args.to)
        link = None if args.no_link or not previous else Path(previous[-1]["path"])
        dest = backup.new_backup_dir(args.to)
        manifest = backup.backup_server(config, dest, link_from=link)
        print(f"{dest}: {manifest['packages']} package version(s), {len(manifest['files'])} file(s)")
        for gone in backup.prune_backups(args.to, args.keep) if args.keep else []:
            print(f"deleted old backup {gone}")
    except backup.BackupError as exc:
        raise _error(exc.message, ExitCode.FAILED) from exc
    except (OSError, ValueError) as exc:
        raise _error(str(exc), ExitCode.FAILED) from exc
    return 0


def server_restore(args: argparse.Namespace) -> int:
    from sohoa.appliance import backup

    try:
        report = backup.restore_server(args.backup, args.data)
    except backup.BackupError as exc:
        raise _error(exc.message, ExitCode.FAILED) from exc
    print(f"restored {report.files} file(s), {report.packages} package version(s) into {report.data_dir}; "
          "fixity audit clean")
    return 0


def tls_make_ca(args: argparse.Namespace) -> int:
    from sohoa.appliance.tls import make_ca

    try:
        pair = make_ca(args.dir, name=args.name)
    except FileExistsError as exc:
        raise _error(str(exc)) from exc
    print(f"{pair.cert}\n{pair.key} (0600: keep it offline)")
    return 0


def tls_server_cert(args: argparse.Namespace) -> int:
    from sohoa.appliance.tls import CertPair, make_server_cert

    try:
        pair = make_server_cert(CertPair(args.dir / "ca.crt", args.dir / "ca.key"), args.dir,
                                hostnames=args.host, ips=args.ip, days=args.days)
    except (OSError, ValueError) as exc:
        raise _error(str(exc)) from exc
    print(f"{pair.cert}\n{pair.key}")
    return 0


def wait_http(args: argparse.Namespace) -> int:
    import requests

    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            requests.get(args.url, timeout=2)
            return 0
        except requests.RequestException:
            time.sleep(0.5)
    print(f"{args.url} did not answer within {args.timeout:.0f} s", file=sys.stderr)
    return 1
