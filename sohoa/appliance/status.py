"""`sohoa status`: one screen an IT person reads first — services, queues, disk, last sync, certificates.

Every line is a `Check` with a level (ok, warning, error, unknown) and an English and Vietnamese text.
The station database is opened read-only: asking for the status never changes (or creates) anything.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from protocol.errors import Message, say
from protocol.i18n import DEFAULT, N_

OK, WARNING, ERROR, UNKNOWN = "ok", "warning", "error", "unknown"
STATION_UNITS = ("sohoa-station.service", "sohoa-kiosk.service")
SERVER_UNITS = ("sohoa-server.service", "sohoa-mosquitto.service", "nginx.service", "sohoa-fixity.timer",
                "sohoa-backup.timer")
DISK_WARN_RATIO = 0.15  # the station's own guard stops scanning earlier than this: warn before it does
DISK_ERROR_RATIO = 0.05
CERT_WARN_DAYS = 30


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    said: Message | str  # what was found: a message by key, or a plain value (a count, a date, a unit state)

    @property
    def detail(self) -> str:
        """English (the command line speaks English; `text(lang)` for a screen)."""
        return self.said if isinstance(self.said, str) else self.said.message

    def text(self, lang: str = DEFAULT) -> str:
        return self.said if isinstance(self.said, str) else self.said.text(lang)

    def line(self) -> str:
        return f"{self.level.upper():8} {self.name}: {self.detail}"


def service_checks(units: tuple[str, ...]) -> list[Check]:
    """`systemctl is-active` per unit; without a running systemd (containers, tests) the state is unknown."""
    try:
        out = subprocess.run(["systemctl", "is-active", *units], capture_output=True, text=True, timeout=10)
        states = out.stdout.split()
    except (FileNotFoundError, subprocess.TimeoutExpired):
        states = []
    if len(states) != len(units):
        return [Check(f"service {u}", UNKNOWN, say(N_("systemd is not reachable")))
                for u in units]
    checks = []
    for unit, state in zip(units, states, strict=True):
        level = OK if state == "active" else (WARNING if state in ("inactive", "activating") else ERROR)
        checks.append(Check(f"service {unit}", level, state))  # systemd's own word for the state
    return checks


def disk_check(path: Path, *, name: str = "disk") -> Check:
    try:
        usage = shutil.disk_usage(path)
    except FileNotFoundError:
        return Check(f"{name} {path}", ERROR, say(N_("folder does not exist")))
    ratio = usage.free / usage.total if usage.total else 0.0
    level = ERROR if ratio < DISK_ERROR_RATIO else WARNING if ratio < DISK_WARN_RATIO else OK
    gb = usage.free / 1e9
    return Check(f"{name} {path}", level, say(N_("%(gb).1f GB free (%(percent).0f%%)"), gb=gb, percent=ratio * 100))


def certificate_checks(name: str, pem: bytes, *, now: Any = None) -> list[Check]:
    """Expiry of every certificate in a PEM bundle: warning within CERT_WARN_DAYS, error once expired."""
    from cryptography import x509

    from protocol.clock import now_vn

    now = now or now_vn()
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        return [Check(name, ERROR, say(N_("no PEM certificate")))]
    out = []
    for cert in certs:
        end = cert.not_valid_after_utc
        days = (end - now) / timedelta(days=1)
        level = ERROR if days < 0 else WARNING if days < CERT_WARN_DAYS else OK
        who = cert.subject.rfc4514_string()
        out.append(Check(f"{name} [{who}]", level, say(N_("expires %(day)s (%(days).0f days)"),
                                                        day=f"{end:%Y-%m-%d}", days=days)))
    return out


def _file_certs(name: str, path: Path | None) -> list[Check]:
    if path is None:
        return []
    try:
        return certificate_checks(name, Path(path).read_bytes())
    except OSError as exc:
        return [Check(name, ERROR, say(N_("cannot read %(path)s: %(strerror)s"), path=path, strerror=exc.strerror))]


def _signing_checks(cfg: Any) -> list[Check]:
    if cfg.signing_p12:
        from cryptography.hazmat.primitives.serialization import pkcs12

        try:
            phrase = cfg.signing_passphrase_file.read_bytes().strip() if cfg.signing_passphrase_file else None
            bundle = pkcs12.load_pkcs12(Path(cfg.signing_p12).read_bytes(), phrase)
        except (OSError, ValueError) as exc:
            return [Check("signing key", ERROR, say(N_("cannot open %(signing_p12)s: %(exc)s"),
                                                    signing_p12=cfg.signing_p12, exc=exc))]
        from cryptography.hazmat.primitives.serialization import Encoding

        assert bundle.cert is not None  # a signing bundle carries its certificate
        return certificate_checks("signing certificate", bundle.cert.certificate.public_bytes(Encoding.PEM))
    if cfg.pkcs11_module:
        return [Check("signing certificate", UNKNOWN, say(N_("on a PKCS#11 token: check it with pkcs11-tool")))]
    return [Check("signing certificate", WARNING, say(N_("no signing key configured")))]


def _read_only(db: Path) -> sqlite3.Connection | None:
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn


def station_queue_checks(db_path: Path) -> list[Check]:
    """Sync queue (outbox), pages waiting for processing, batches by state, and the last sync."""
    conn = _read_only(db_path)
    if conn is None:
        return [Check("station database", WARNING, say(N_("%(db_path)s not created yet"), db_path=db_path))]
    try:
        outbox = dict(conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
        waiting = conn.execute("SELECT COUNT(*) FROM pages WHERE processed_at IS NULL AND deleted = 0").fetchone()[0]
        batches = dict(conn.execute("SELECT state, COUNT(*) FROM batches GROUP BY state").fetchall())
        last = conn.execute("SELECT MAX(updated_at) FROM outbox WHERE state IN ('accepted', 'rejected')").fetchone()[0]
        error = conn.execute("SELECT last_error FROM outbox WHERE state IN ('queued', 'sending') AND last_error"
                             " IS NOT NULL ORDER BY updated_at DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    queued = outbox.get("queued", 0) + outbox.get("sending", 0)
    checks = [
        Check("sync queue", WARNING if error else OK,
              say(N_("%(queued)s package(s) waiting; last error: %(error)s"), queued=queued, error=error[0]) if error
              else say(N_("%(queued)s package(s) waiting"), queued=queued)),
        Check("processing queue", OK, say(N_("%(waiting)s page(s) waiting"), waiting=waiting)),
        Check("batches", OK, ", ".join(f"{k} {v}" for k, v in sorted(batches.items())) or say(N_("none yet"))),
        Check("last sync", OK if last else (WARNING if queued else OK), last or say(N_("never"))),
    ]
    return checks


def station_status(cfg: Any, *, units: tuple[str, ...] = STATION_UNITS,
                   tls_files: tuple[Path, ...] = ()) -> list[Check]:
    checks = service_checks(units) if units else []
    checks += station_queue_checks(cfg.db_path)
    checks.append(disk_check(cfg.data_dir))
    checks += _signing_checks(cfg)
    checks += _file_certs("server CA", getattr(cfg, "server_ca_file", None))
    for path in tls_files:
        checks += _file_certs(f"certificate {path}", path)
    return checks


def server_status(cfg: Any, *, units: tuple[str, ...] = SERVER_UNITS, tls_files: tuple[Path, ...] = (),
                  backups: Path | None = None) -> list[Check]:
    checks = service_checks(units) if units else []
    conn = _read_only(cfg.db_path)
    if conn is None:
        checks.append(Check("server database", WARNING, say(N_("%(db_path)s not created yet"), db_path=cfg.db_path)))
    else:
        try:
            open_uploads = conn.execute("SELECT COUNT(*) FROM uploads WHERE state NOT IN ('accepted', 'rejected')"
                                        ).fetchone()[0]
            last = conn.execute("SELECT MAX(updated_at) FROM uploads WHERE state = 'accepted'").fetchone()[0]
        finally:
            conn.close()
        checks.append(Check("uploads in progress", OK, str(open_uploads)))
        checks.append(Check("last accepted package", OK, last or say(N_("none yet"))))
    from server.store.ledger import Ledger

    stored = len(Ledger(cfg.store_dir / "ledger.jsonl").read().entries)  # valid lines only, a torn one is not
    checks.append(Check("stored package versions", OK, str(stored)))
    checks.append(disk_check(cfg.data_dir))
    if cfg.backup_dir:
        checks.append(disk_check(cfg.backup_dir, name="second copy"))
    for root in cfg.trust_roots:
        checks += _file_certs(f"trust root {root}", Path(root))
    for path in tls_files:
        checks += _file_certs(f"certificate {path}", path)
    if backups is not None:
        checks.append(last_backup_check(backups))
    return checks


def last_backup_check(folder: Path) -> Check:
    from sohoa.appliance.backup import list_backups

    found = list_backups(folder)
    if not found:
        return Check(f"last backup in {folder}", WARNING, say(N_("no backup yet")))
    newest = found[-1]
    return Check(f"last backup in {folder}", OK, f"{newest['created_at']} ({newest['path']})")


def to_json(checks: list[Check]) -> list[dict]:
    """English details, and each message's key for a reader that shows it in another language."""
    return [{"name": c.name, "level": c.level, "detail": c.detail,
             **(c.said.as_dict() if isinstance(c.said, Message) else {})} for c in checks]


def worst(checks: list[Check]) -> str:
    levels = {c.level for c in checks}
    return ERROR if ERROR in levels else WARNING if WARNING in levels else OK
