"""Server settings: one typed model, loaded from TOML; unknown keys are an error."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass
class ServerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    trust_roots: list[Path] = field(default_factory=list)
    backup_dir: Path | None = None
    broker_host: str = ""
    broker_port: int = 1883
    broker_user: str = "server"
    broker_password_file: Path | None = None
    mqtt_prefix: str = "sohoa"
    # Mosquitto's passwd and acl, re-rendered on enrol/revoke (production /etc/sohoa/mosquitto); empty: off.
    broker_files_dir: Path | None = None
    # After rendering, SIGHUP the PID in this file; unset: the sohoa-broker-reload.path unit reloads mosquitto.
    broker_pid_file: Path | None = None
    advertise: bool = False  # announce the API and broker on the LAN (zeroconf _sohoa._tcp)
    advertise_name: str = "sohoa"
    public_url: str = ""  # the URL stations use; default http://host:port
    catalog_url: str = ""  # postgresql://... shared by several servers; empty = SQLite file catalog_path
    database: str = ""  # the server's records: postgresql://... shared by several servers; empty = db_path
    # The web UI's session key; servers behind one address name one file on shared storage. Unset: data_dir/keys.
    session_key_file: Path | None = None
    # Web sessions live in the records (revocable, shared by the servers): they end at logout, after
    # `session_idle_s` without a request and `session_max_s` after login, whichever comes first.
    session_idle_s: int = 1800
    # The TLS proxy (nginx) in front, e.g. "127.0.0.1": only its X-Forwarded-For/-Proto are believed (login
    # limits count the real client address; cookies become Secure). Empty: no forwarded header is believed.
    trusted_proxy: str = ""
    session_max_s: int = 12 * 3600

    @property
    def db_path(self) -> Path:
        return self.data_dir / "server.db"

    @property
    def db_target(self) -> str | Path:
        """What server.db.open_server_db opens: the PostgreSQL URL when set, else the SQLite file."""
        return self.database or self.db_path

    @property
    def session_key_path(self) -> Path:
        return self.session_key_file or self.data_dir / "keys" / "web-session.key"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.db"

    @property
    def monitor_path(self) -> Path:
        return self.data_dir / "monitor.db"

    @property
    def key_path(self) -> Path:
        return self.data_dir / "keys" / "receipt-ed25519.pem"

    def trust_root_pems(self) -> list[bytes]:
        return [Path(p).read_bytes() for p in self.trust_roots]


PATH_FIELDS = {
    "data_dir",
    "backup_dir",
    "broker_password_file",
    "broker_files_dir",
    "broker_pid_file",
    "session_key_file",
}


PG_SCHEMES = ("postgresql://", "postgres://")


def load_config(path: Path) -> ServerConfig:
    """Read a server.toml; every problem is reported at once."""
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    known = {f.name for f in fields(ServerConfig)}
    unknown = sorted(set(raw) - known)
    problems = [f"unknown setting {k!r}" for k in unknown]
    if "data_dir" not in raw:
        problems.append("data_dir is required")
    for key in ("database", "catalog_url"):
        if raw.get(key) and not str(raw[key]).startswith(PG_SCHEMES):
            problems.append(f"{key} must be a postgresql:// URL or empty (the SQLite file in data_dir)")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    for key in PATH_FIELDS & set(raw):
        raw[key] = Path(raw[key])
    raw["trust_roots"] = [Path(p) for p in raw.get("trust_roots", [])]
    return ServerConfig(**raw)
