"""`sohoa server ...`: run the archive server and its admin commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from protocol.errors import CommandError
from server.config import ServerConfig, load_config


def _config(args: argparse.Namespace) -> ServerConfig:
    if args.config:
        config = load_config(Path(args.config))
    else:
        config = ServerConfig(data_dir=Path(args.data))
    if args.host:
        config.host = args.host
    if args.port:
        config.port = args.port
    for root in args.trust or []:
        config.trust_roots.append(Path(root))
    return config


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("server", help="run the central archive server (and its admin commands)")
    p.add_argument("--config", help="server.toml")
    p.add_argument("--data", default="/var/lib/sohoa/server", help="data folder when no --config")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--trust", action="append", help="PEM file of a trusted agency root CA (repeatable)")
    p.set_defaults(func=run)
    sub = p.add_subparsers(dest="server_command", metavar="ACTION")

    s = sub.add_parser("add-station", help="create a station account; prints its secrets once")
    s.add_argument("station_id")
    s.add_argument("--name", default="")
    s.set_defaults(func=add_station)

    s = sub.add_parser("add-operator", help="create/change a station operator account (PIN from stdin)")
    s.add_argument("code")
    s.add_argument("--name", default="")
    s.add_argument("--role", choices=["operator", "supervisor", "admin"], default="operator")
    s.set_defaults(func=add_operator)

    s = sub.add_parser("enroll-code", help="one-time code a new station enrols with (sohoa station-enroll)")
    s.add_argument("station_id")
    s.add_argument("--hours", type=float, default=24.0, help="how long the code stays valid")
    s.set_defaults(func=enroll_code)

    s = sub.add_parser("revoke-station", help="refuse a station from its next request")
    s.add_argument("station_id")
    s.set_defaults(func=revoke_station)

    s = sub.add_parser("add-user", help="create a supervisor/archivist/admin web account (password from stdin)")
    s.add_argument("name")
    s.add_argument("--role", choices=["supervisor", "archivist", "admin"], default="supervisor")
    s.set_defaults(func=add_user)

    s = sub.add_parser("search", help="search the catalog (diacritics optional)")
    s.add_argument("query")
    s.add_argument("--limit", type=int, default=20)
    s.set_defaults(func=search)

    s = sub.add_parser("fixity", help="re-hash stored packages and report what changed")
    s.add_argument("--sample", type=int, help="check only this many packages")
    s.set_defaults(func=fixity)

    s = sub.add_parser("migrate-packages", help="rewrite stored packages made before the E-ARK update as new "
                       "versions (old ones kept)")
    s.add_argument("--dry-run", action="store_true", help="report what would be migrated, store nothing")
    s.set_defaults(func=migrate_packages)

    s = sub.add_parser("export", help="copies for users and the inventory (mục lục) of chosen hồ sơ")
    ex = s.add_subparsers(dest="export_command", metavar="WHAT", required=True)
    c = ex.add_parser("copy", help="a copy of one document for a request (recorded and logged)")
    c.add_argument("objid")
    c.add_argument("doc_id")
    c.add_argument("--kind", required=True, choices=["read", "copy", "certified", "dip"])
    c.add_argument("--recipient", required=True, help="the person the copy is for")
    c.add_argument("--recipient-id", default="", help="their ID number (CCCD)")
    c.add_argument("--purpose", required=True, choices=["01", "02", "03"],
                   help="01 cá nhân, 02 công vụ, 03 công vụ đặc biệt")
    c.add_argument("--purpose-content", default="")
    c.add_argument("--request-id", default="")
    c.add_argument("--until", required=True, help="valid until (YYYY-MM-DD)")
    c.add_argument("--actor", default="", help="who hands it out (default: cli:<login name>)")
    c.add_argument("--out", required=True, type=Path, help="file to write (.pdf, or .zip for a DIP)")
    c.set_defaults(func=export_copy)
    i = ex.add_parser("inventory", help="mục lục of a fonds or of listed hồ sơ, as CSV or EAD (zip)")
    i.add_argument("--fonds", default="")
    i.add_argument("--hoso", action="append", default=[], help="a file code (repeatable)")
    i.add_argument("--format", required=True, choices=["csv", "ead"])
    i.add_argument("--actor", default="")
    i.add_argument("--out", required=True, type=Path)
    i.set_defaults(func=export_inventory)

    s = sub.add_parser("broker-config", help="render the installed broker: mosquitto.conf, passwd, acl (idempotent)")
    s.add_argument("--folder", help="default: broker_files_dir, else /etc/sohoa/mosquitto")
    s.add_argument(
        "--password-file",
        help="server's MQTT password; default: broker_password_file, else "
        "/etc/sohoa/secrets/mqtt-server (made once when missing)",
    )
    s.add_argument("--data-dir", default="/var/lib/sohoa-mosquitto", help="mosquitto's persistence folder")
    s.add_argument("--listen-port", type=int, default=1883)
    s.add_argument("--bind", default="0.0.0.0", help="listener address (stations connect over the LAN)")
    s.add_argument("--run-user", default="mosquitto")
    s.add_argument("--tls-cert", type=Path, help="MQTT over TLS only: the listener's certificate (PEM)")
    s.add_argument("--tls-key", type=Path, help="its private key (PEM); stations set broker_tls_ca")
    s.set_defaults(func=broker_config)


def run(args: argparse.Namespace) -> int:
    from server.app import serve

    serve(_config(args))
    return 0


def add_station(args: argparse.Namespace) -> int:
    from protocol.ids import IdError
    from server.databases import open_server_db

    config = _config(args)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        print(json.dumps(open_server_db(config.db_target).add_station(args.station_id, name=args.name)))
    except IdError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def add_operator(args: argparse.Namespace) -> int:
    import getpass
    import sys

    from server.accounts.operators import set_operator

    config = _config(args)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    pin = getpass.getpass("PIN: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    try:
        set_operator(config.db_target, args.code, name=args.name, role=args.role, pin=pin)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    print(json.dumps({"code": args.code, "role": args.role}))
    return 0


def enroll_code(args: argparse.Namespace) -> int:
    from server.accounts.enrollment import EnrollmentError, create_enrollment_code

    config = _config(args)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        code = create_enrollment_code(config.db_target, args.station_id, ttl_s=int(args.hours * 3600))
    except EnrollmentError as exc:
        raise CommandError(str(exc)) from exc
    print(json.dumps({"station_id": args.station_id, "code": code, "valid_hours": args.hours}))
    return 0


def revoke_station(args: argparse.Namespace) -> int:
    from server.databases import open_server_db

    if not open_server_db(_config(args).db_target).revoke_station(args.station_id):
        raise CommandError(f"no station {args.station_id!r}")
    print(json.dumps({"station_id": args.station_id, "revoked": True}))
    return 0


def add_user(args: argparse.Namespace) -> int:
    import getpass
    import sys

    from server.accounts.auth import AuthError, create_user

    config = _config(args)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    try:  # the records the server uses: its SQLite file, or the PostgreSQL database several servers share
        user = create_user(config.db_target, args.name, password, role=args.role)
    except AuthError as exc:
        raise CommandError(str(exc)) from exc
    print(json.dumps({"name": getattr(user, "name", args.name), "role": args.role}))
    return 0


def search(args: argparse.Namespace) -> int:
    from dataclasses import asdict, is_dataclass

    from server.databases import open_catalog

    config = _config(args)
    for hit in open_catalog(config.catalog_url or config.catalog_path).search(args.query, limit=args.limit):
        row = asdict(hit) if is_dataclass(hit) and not isinstance(hit, type) else hit
        print(json.dumps(row, ensure_ascii=False, default=str))
    return 0


def fixity(args: argparse.Namespace) -> int:
    """Audit the store (trusting neither the ledger nor the files); the report is kept in store/reports/."""
    from server.store.fixity import write_report
    from server.store.storage import PackageStore

    config = _config(args)
    report = PackageStore(config.store_dir, backup_root=config.backup_dir).fixity(sample=args.sample)
    write_report(report, config.store_dir / "reports")
    print(json.dumps(report.to_dict(), ensure_ascii=False, default=str, indent=2))
    return 0 if report.clean else 1


def migrate_packages(args: argparse.Namespace) -> int:
    from server.store.package_migration import migrate_stored_packages

    report = migrate_stored_packages(_config(args), dry_run=args.dry_run)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 1 if report["failed"] else 0


def broker_config(args: argparse.Namespace) -> int:
    from server.mqtt.broker import BrokerError, TlsConfig, render_installed_broker

    if bool(args.tls_cert) != bool(args.tls_key):
        raise CommandError("broker-config: --tls-cert and --tls-key go together")
    for path in (args.tls_cert, args.tls_key):
        if path is not None and not path.is_file():
            raise CommandError(f"broker-config: {path} does not exist")
    tls = TlsConfig(certfile=args.tls_cert, keyfile=args.tls_key) if args.tls_cert else None
    config = _config(args)
    folder = Path(args.folder or config.broker_files_dir or "/etc/sohoa/mosquitto")
    password_file = Path(args.password_file or config.broker_password_file or "/etc/sohoa/secrets/mqtt-server")
    try:
        conf, stations = render_installed_broker(
            config,
            folder=folder,
            data_dir=Path(args.data_dir),
            password_file=password_file,
            port=args.listen_port,
            bind=args.bind,
            run_user=args.run_user,
            tls=tls,
        )
    except (BrokerError, OSError) as exc:
        raise CommandError(f"broker-config: {exc}") from exc
    print(json.dumps({"conf": str(conf), "stations": stations, "data_dir": args.data_dir}))
    return 0


def _actor(args: argparse.Namespace) -> str:
    import getpass

    return args.actor or f"cli:{getpass.getuser()}"


def _write_out(path: Path, data: bytes) -> None:
    from protocol.durable import write_atomic
    from protocol.errors import CommandError

    if path.exists() and path.is_dir():
        raise CommandError(f"export: {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise CommandError(f"export: the folder {path.parent} does not exist")
    write_atomic(path, data)


def export_copy(args: argparse.Namespace) -> int:
    from protocol.errors import CommandError
    from server.app import build_context
    from server.archive import copies

    context = build_context(_config(args))
    try:
        request = copies.parse_request({"recipient": args.recipient, "recipient_id": args.recipient_id,
                                        "purpose": args.purpose, "purpose_content": args.purpose_content,
                                        "request_id": args.request_id, "until": args.until})
        row = copies.make_copy(context, objid=args.objid, doc_id=args.doc_id, kind=args.kind, request=request,
                               actor=_actor(args), address="cli")
    except copies.CopyError as exc:
        raise CommandError(f"export copy: {exc}") from exc
    _write_out(args.out, copies.path_of(context, row).read_bytes())
    print(json.dumps({"copy_id": row["id"], "kind": row["kind"], "out": str(args.out), "sha256": row["sha256"],
                      "until": row["until"]}, ensure_ascii=False))
    return 0


def export_inventory(args: argparse.Namespace) -> int:
    from protocol.errors import CommandError
    from server.app import build_context
    from server.archive import inventory

    if not args.fonds and not args.hoso:
        raise CommandError("export inventory: name a fonds (--fonds) or hồ sơ (--hoso)")
    context = build_context(_config(args))
    try:
        rows = inventory.choose(context, fonds=args.fonds, file_codes=args.hoso)
        data = inventory.to_csv(context, rows) if args.format == "csv" else inventory.to_ead_zip(context, rows)
    except inventory.InventoryError as exc:
        raise CommandError(f"export inventory: {exc}") from exc
    _write_out(args.out, data)
    inventory.log_export(context, actor=_actor(args), address="cli", rows=rows, fmt=args.format)
    print(json.dumps({"hoso": len(rows), "format": args.format, "out": str(args.out)}, ensure_ascii=False))
    return 0
