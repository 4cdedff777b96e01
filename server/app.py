"""The server process: builds every part from the config and hands them to the Flask app factory."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response
from flask.typing import ResponseReturnValue

from protocol import api
from server.accounts.keys import load_or_create_key, public_pem
from server.config import ServerConfig
from server.ingest.commit import Ingest
from server.records.db import Records

log = logging.getLogger("sohoa.server")


@dataclass
class ServerContext:
    config: ServerConfig
    db: Records
    store: Any
    catalog: Any
    ingest: Ingest
    public_key_pem: str
    monitor: Any = None


def build_context(config: ServerConfig) -> ServerContext:
    from protocol.scratch import sweep_scratch
    from server.databases import open_catalog, open_server_db
    from server.store.storage import PackageStore

    for folder in (config.data_dir, config.uploads_dir, config.store_dir):
        folder.mkdir(parents=True, exist_ok=True)
    db = open_server_db(config.db_target, backup_dir=config.data_dir / "migration-backups")
    key = load_or_create_key(config.key_path)
    store = PackageStore(config.store_dir, backup_root=config.backup_dir, signing_key=key)
    catalog = open_catalog(config.catalog_url or config.catalog_path,
                           backup_dir=config.data_dir / "migration-backups")
    recover(store, catalog, db)
    swept = sweep_scratch()  # what a killed server left in /tmp (a commit's or an upload's copies of PDFs)
    if swept:
        log.info("removed %d scratch folder(s) of processes no longer running", len(swept))
    ingest = Ingest(db=db, store=store, catalog=catalog, trust_roots=config.trust_root_pems(), signing_key=key)
    return ServerContext(config=config, db=db, store=store, catalog=catalog, ingest=ingest,
                         public_key_pem=public_pem(key))


def recover(store: Any, catalog: Any, db: Records) -> None:
    """Store, ledger and catalogue made to agree after a crash (server.store.recover); reported when changed."""
    import json

    from protocol.clock import iso_vn
    from protocol.durable import write_atomic
    from server.store.recover import reconcile

    def station_of(sha256: str) -> str:
        row = db.one("SELECT station_id FROM uploads WHERE sha256 = ? ORDER BY created_at LIMIT 1", (sha256,))
        return row["station_id"] if row else ""

    report = reconcile(store, catalog, station_of=station_of)
    if report.changed:
        folder = store.primary.root / "reports"
        folder.mkdir(exist_ok=True)
        write_atomic(folder / f"recovery-{iso_vn().replace(':', '')}.json",
                     json.dumps(report.to_dict(), ensure_ascii=False, indent=2).encode("utf-8"))
WEB_THREADS = 16  # waitress workers; live streams get at most a third of them (create_app)
# A chunk is read from the socket in large pieces (waitress reads 8 KiB at a time by default: 130,000 trips
# through its loop per GB) and kept in memory up to two default chunks (beyond, waitress spills the body to a
# temp file: one more write and read of every byte). Memory: at most this much per open connection.
RECV_BYTES = 1 << 20
BODY_IN_MEMORY = 2 * api.CHUNK_SIZE + (64 << 10)


def create_app(context: ServerContext) -> Flask:
    from server.ingest.api import bp as ingest_bp
    from server.web.enroll_views import api_bp as enroll_bp  # also adds the admin's station pages to web_bp
    from server.web.views import bp as web_bp

    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.extensions["sohoa"] = context
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024  # one chunk, never a whole package in memory
    from sohoa.webi18n import install as install_babel

    install_babel(app)  # the one catalogue and language rule of both apps
    from sohoa.streams import StreamLimiter

    # Live views (/events) may hold at most a third of the web threads; 2 per supervisor.
    app.extensions["sohoa_streams"] = StreamLimiter(total=max(1, WEB_THREADS // 3), per_key=2)
    app.register_blueprint(ingest_bp)
    from server.accounts.operators import bp as operators_bp

    app.register_blueprint(operators_bp)
    app.register_blueprint(web_bp)
    app.register_blueprint(enroll_bp)
    from server.archive import acceptance_views  # noqa: F401  (its routes are on the archive's blueprint)
    from server.archive.views import bp as archive_bp

    app.register_blueprint(archive_bp)
    from server.archive.copies_views import bp as copies_bp

    app.register_blueprint(copies_bp)

    _errors(app)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        from flask import request

        from protocol.webheaders import add_security_headers

        add_security_headers(response.headers, https=request.is_secure)
        return response

    return app


def _errors(app: Flask) -> None:
    """A UserError (protocol.errors) → its status and message, anything else → 500 with an incident number."""
    from flask import jsonify, render_template, request

    from sohoa.weberrors import install, internal

    def answer(status: int, code: str, message: str, text: str, **extra: Any) -> Any:
        if request.path.startswith("/api/") or request.path == "/events" or request.is_json:
            return jsonify({"error": code, "message": message, "text": text, **extra}), status
        return render_template("error.html", s=status, text=text, en=message), status

    install(app, answer)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:  # noqa: ANN202
        from werkzeug.exceptions import HTTPException

        from server.ingest.api import disk_full_response

        if isinstance(exc, HTTPException):
            return exc
        full = disk_full_response(exc)
        return full if full is not None else internal(answer, exc)


def start_monitor(context: ServerContext) -> None:
    """Subscribe to station telemetry when a broker is configured (the archive works without it)."""
    cfg = context.config
    if not cfg.broker_host:
        return
    from server.monitoring.monitor import Monitor

    password = cfg.broker_password_file.read_text().strip() if cfg.broker_password_file else ""
    context.monitor = Monitor(host=cfg.broker_host, port=cfg.broker_port, username=cfg.broker_user,
                              password=password, db_path=cfg.monitor_path, prefix=cfg.mqtt_prefix)
    context.monitor.start()


def serve(config: ServerConfig) -> None:
    """Run under waitress until SIGTERM/SIGINT, then stop the monitor."""
    import signal
    import threading

    from waitress.server import create_server

    from server.accounts.enrollment import attach_broker_sync
    from server.mqtt.broker import BrokerError, accounts_sync_for
    from sohoa.sdnotify import ServiceNotifier, http_check

    context = build_context(config)
    start_monitor(context)
    app = create_app(context)
    # Enrolment and revocation re-render mosquitto's accounts at once; rendered at start too, so a station
    # revoked while the server was down (CLI) is refused by the broker as soon as the server is back.
    try:
        broker_accounts = accounts_sync_for(config)
    except (BrokerError, OSError) as exc:  # misconfigured: refuse to start rather than run without revocation
        raise SystemExit(f"sohoa server: broker accounts: {exc}") from exc
    if broker_accounts is not None:
        attach_broker_sync(app, broker_accounts)
        try:
            broker_accounts.apply(context.db)
        except Exception:  # the archive works without MQTT; the next enrol/revoke renders again
            log.exception("broker accounts not rendered at start")
    # poll(), not select(): select() fails outright on a descriptor above 1023 (many stations, many files).
    # Behind nginx (TLS): only the configured proxy's X-Forwarded-* are believed (any local process could
    # otherwise pick the address the login limiter counts); without one, forwarded headers are dropped.
    proxy: dict[str, Any] = {"trusted_proxy": config.trusted_proxy,
             "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}} \
        if config.trusted_proxy else {}
    server = create_server(app, host=config.host, port=config.port, threads=WEB_THREADS, ident="sohoa",
                           max_request_body_size=64 * 1024 * 1024, clear_untrusted_proxy_headers=True,
                           recv_bytes=RECV_BYTES, inbuf_overflow=BODY_IN_MEMORY,
                           asyncore_use_poll=True, **proxy)

    def on_signal(signum: int, frame: object) -> None:
        raise SystemExit(0)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    advertiser = _advertise(context)
    log.info("server listening on http://%s:%d", config.host, config.port)
    # systemd (Type=notify): READY once the API answers; watchdog pings only while it keeps answering.
    local = "127.0.0.1" if config.host in ("0.0.0.0", "", "::") else config.host
    notifier = ServiceNotifier(http_check(f"http://{local}:{config.port}/api/v1/health"), name="server",
                               ready_status=f"serving on {config.host}:{config.port}")
    notifier.start()
    try:
        server.run()
    finally:
        notifier.stopping()
        server.close()
        if advertiser:
            advertiser.stop()
        if context.monitor:
            context.monitor.stop()


def _advertise(context: ServerContext) -> Any:
    """Zeroconf announcement so stations find the server without typed addresses (off by default)."""
    cfg = context.config
    if not cfg.advertise:
        return None
    from server.accounts.discovery import advertiser_for

    url = cfg.public_url or f"http://{cfg.host}:{cfg.port}"
    advertiser = advertiser_for(context, name=cfg.advertise_name, api_url=url, addresses=[cfg.host])
    try:
        advertiser.start()
    except Exception:  # the archive works without discovery
        log.exception("zeroconf advertisement failed")
        return None
    return advertiser
