"""`sohoa status`: one screen an IT person reads first — services, queues, disk, last sync, certificates.

Every line is a `Check` with a level (ok, warning, error, unknown) and an English and Vietnamese text.
The station database is opened read-only: asking for the status never changes (or creates) anything.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

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
    detail: str
    detail_vi: str

    def line(self) -> str:
        return f"{self.level.upper():8} {self.name}: {self.detail} / {self.detail_vi}"


def service_checks(units: tuple[str, ...]) -> list[Check]:
    """`systemctl is-active` per unit; without a running systemd (containers, tests) the state is unknown."""
    try:
        out = subprocess.run(["systemctl", "is-active", *units], capture_output=True, text=True, timeout=10)
        states = out.stdout.split()
    except (FileNotFoundError, subprocess.TimeoutExpired):
        states = []
    if len(states) != len(units):
        return [Check(f"service {u}", UNKNOWN, "systemd is not reachable", "Không liên lạc được với systemd")
                for u in units]
    checks = []
    for unit, state in zip(units, states, strict=True):
        level = OK if state == "active" else (WARNING if state in ("inactive", "activating") else ERROR)
        checks.append(Check(f"service {unit}", level, state, {"active": "đang chạy", "inactive": "không chạy",
                                                              "failed": "bị lỗi"}.get(state, state)))
    return checks


def disk_check(path: Path, *, name: str = "disk") -> Check:
    try:
        usage = shutil.disk_usage(path)
    except FileNotFoundError:
        return Check(f"{name} {path}", ERROR, "folder does not exist", "Thư mục không tồn tại")
    ratio = usage.free / usage.total if usage.total else 0.0
    level = ERROR if ratio < DISK_ERROR_RATIO else WARNING if ratio < DISK_WARN_RATIO else OK
    gb = usage.free / 1e9
    return Check(f"{name} {path}", level, f"{gb:.1f} GB free ({ratio:.0%})", f"còn trống {gb:.1f} GB ({ratio:.0%})")


def certificate_checks(name: str, pem: bytes, *, now: Any = None) -> list[Check]:
    """Expiry of every certificate in a PEM bundle: warning within CERT_WARN_DAYS, error once expired."""
    from cryptography import x509

    from protocol.clock import now_vn

    now = now or now_vn()
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        return [Check(name, ERROR, "no PEM certificate", "Không có chứng thư PEM")]
    out = []
    for cert in certs:
        end = cert.not_valid_after_utc
        days = (end - now) / timedelta(days=1)
        level = ERROR if days < 0 else WARNING if days < CERT_WARN_DAYS else OK
        who = cert.subject.rfc4514_string()
        out.append(Check(f"{name} [{who}]", level, f"expires {end:%Y-%m-%d} ({days:.0f} days)",
                         f"hết hạn ngày {end:%d/%m/%Y} (còn {days:.0f} ngày)"))
    return out


def _file_certs(name: str, path: Path | None) -> list[Check]:
    if path is None:
        return []
    try:
        return certificate_checks(name, Path(path).read_bytes())
    except OSError as exc:
        return [Check(name, ERROR, f"cannot read {path}: {exc.strerror}", f"Không đọc được {path}")]


def _signing_checks(cfg: Any) -> list[Check]:
    if cfg.signing_p12:
        from cryptography.hazmat.primitives.serialization import pkcs12

        try:
            phrase = cfg.signing_passphrase_file.read_bytes().strip() if cfg.signing_passphrase_file else None
            bundle = pkcs12.load_pkcs12(Path(cfg.signing_p12).read_bytes(), phrase)
        except (OSError, ValueError) as exc:
            return [Check("signing key", ERROR, f"cannot open {cfg.signing_p12}: {exc}",
                          f"Không mở được khoá ký số {cfg.signing_p12}")]
        from cryptography.hazmat.primitives.serialization import Encoding

        assert bundle.cert is not None  # a signing bundle carries its certificate
        return certificate_checks("signing certificate", bundle.cert.certificate.public_bytes(Encoding.PEM))
    if cfg.pkcs11_module:
        return [Check("signing certificate", UNKNOWN, "on a PKCS#11 token: check it with pkcs11-tool",
                      "Nằm trên thẻ PKCS#11: kiểm tra bằng pkcs11-tool")]
    return [Check("signing certificate", WARNING, "no signing key configured", "Chưa cấu hình khoá ký số")]


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
        return [Check("station database", WARNING, f"{db_path} not created yet", "Chưa có cơ sở dữ liệu trạm")]
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
        Check("sync queue", WARNING if error else OK, f"{queued} package(s) waiting"
              + (f"; last error: {error[0]}" if error else ""), f"{queued} gói đang chờ gửi"
              + ("; có lỗi khi gửi" if error else "")),
        Check("processing queue", OK, f"{waiting} page(s) waiting", f"{waiting} trang đang chờ xử lý"),
        Check("batches", OK, ", ".join(f"{k} {v}" for k, v in sorted(batches.items())) or "none",
              ", ".join(f"{k} {v}" for k, v in sorted(batches.items())) or "chưa có"),
        Check("last sync", OK if last else (WARNING if queued else OK), last or "never",
              last or "chưa đồng bộ lần nào"),
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
        checks.append(Check("server database", WARNING, f"{cfg.db_path} not created yet",
                            "Chưa có cơ sở dữ liệu máy chủ"))
    else:
        try:
            open_uploads = conn.execute("SELECT COUNT(*) FROM uploads WHERE state NOT IN ('accepted', 'rejected')"
                                        ).fetchone()[0]
            last = conn.execute("SELECT MAX(updated_at) FROM uploads WHERE state = 'accepted'").fetchone()[0]
        finally:
            conn.close()
        checks.append(Check("uploads in progress", OK, str(open_uploads), f"{open_uploads} lượt tải lên"))
        checks.append(Check("last accepted package", OK, last or "never", last or "chưa có"))
    from server.store.ledger import Ledger

    stored = len(Ledger(cfg.store_dir / "ledger.jsonl").read().entries)  # valid lines only, a torn one is not
    checks.append(Check("stored package versions", OK, str(stored), f"{stored} phiên bản gói đã lưu"))
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
        return Check(f"last backup in {folder}", WARNING, "none", "Chưa có bản sao lưu nào")
    newest = found[-1]
    return Check(f"last backup in {folder}", OK, f"{newest['created_at']} ({newest['path']})",
                 f"{newest['created_at']} ({newest['path']})")


def to_json(checks: list[Check]) -> list[dict]:
    return [asdict(c) for c in checks]


def worst(checks: list[Check]) -> str:
    levels = {c.level for c in checks}
    return ERROR if ERROR in levels else WARNING if WARNING in levels else OK
