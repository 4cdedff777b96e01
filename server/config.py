"""Server settings: one typed model, loaded by protocol.config (unknown keys, types, ranges reported)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from protocol.config import ConfigError, ConfigProblem, parse, read_toml

PORT = {"range": (1, 65535)}


# The AQL columns of ISO 2859-1's master tables up to 10 % nonconforming, and 0: "no defect accepted".
AQL_COLUMNS = (0.0, 0.010, 0.015, 0.025, 0.040, 0.065, 0.10, 0.15, 0.25, 0.40, 0.65, 1.0, 1.5, 2.5, 4.0, 6.5, 10.0)


@dataclass
class AcceptanceConfig:
    """[acceptance]: what nghiệm thu checks and how it samples (shared/domain/acceptance-and-access.md)."""

    # CAP-06 (TT05 Điều 8): 200 dpi for administrative documents, 300 for maps and drawings (typeName 30, 31).
    dpi_default: int = field(default=200, metadata={"range": (72, 2400)})
    dpi_drawings: int = field(default=300, metadata={"range": (72, 2400)})
    drawing_types: list[str] = field(default_factory=lambda: ["30", "31"])
    colour_bits: int = field(default=24, metadata={"range": (1, 48)})  # CAP-05: 24-bit colour
    # The sample: no Vietnamese rule fixes one, so the contract does. Default for every lot...
    sampling_rule: str = field(default="percent", metadata={"choices": ("percent", "iso2859-1")})
    sampling_percent: float = field(default=3.3, metadata={"range": (0.01, 100)})  # about 1 in 30 pages
    sampling_minimum: int = field(default=20, metadata={"range": (0, 100_000)})
    # ...and per contract (work order id or batch uid): "WO-12=iso2859-1", "WO-13=percent:5:30".
    contracts: list[str] = field(default_factory=list)
    # The contract's AQL per defect class (percent nonconforming pages) for ISO 2859-1 lots: each plan's Ac/Re
    # come from the standard's tables (server/archive/aql.py). Critical 0: not one critical defect accepted.
    aql_critical: float = field(default=0.0, metadata={"choices": AQL_COLUMNS})
    aql_major: float = field(default=1.0, metadata={"choices": AQL_COLUMNS})
    aql_minor: float = field(default=4.0, metadata={"choices": AQL_COLUMNS})

    def aqls(self) -> dict[str, float]:
        return {"critical": self.aql_critical, "major": self.aql_major, "minor": self.aql_minor}


@dataclass
class ServerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=PORT)
    trust_roots: list[Path] = field(default_factory=list, metadata={"exists": "file"})
    backup_dir: Path | None = None
    broker_host: str = ""
    broker_port: int = field(default=1883, metadata=PORT)
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
    session_idle_s: int = field(default=1800, metadata={"range": (60, 7 * 86400)})
    # The TLS proxy (nginx) in front, e.g. "127.0.0.1": only its X-Forwarded-For/-Proto are believed (login
    # limits count the real client address; cookies become Secure). Empty: no forwarded header is believed.
    trusted_proxy: str = ""
    session_max_s: int = field(default=12 * 3600, metadata={"range": (60, 30 * 86400)})
    # The archive's name marked on copies, and its own PKCS#12 key (server/archive/signing.py) that signs the
    # biên bản nghiệm thu and certified copies (unset: data_dir/keys/archive.p12; missing: those are refused
    # with the reason, everything else works).
    archive_name: str = "Lưu trữ lịch sử"
    archive_signer_p12: Path | None = field(default=None, metadata={"exists": "file"})
    archive_signer_passphrase_file: Path | None = field(default=None, metadata={"exists": "file"})
    acceptance: AcceptanceConfig = field(default_factory=AcceptanceConfig)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "server.db"

    @property
    def db_target(self) -> str | Path:
        """What server.databases.open_server_db opens: the PostgreSQL URL when set, else the SQLite file."""
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


PG_SCHEMES = ("postgresql://", "postgres://")  # the one place; server/databases.py picks by it


def is_postgres(url_or_path: str | Path) -> bool:
    """A PostgreSQL URL (records or catalogue on a shared database), else the path of a SQLite file."""
    return str(url_or_path).startswith(PG_SCHEMES)


def load_config(path: Path) -> ServerConfig:
    """Read a server.toml; every problem is reported at once (ConfigError, one line per problem)."""
    values, problems = parse(read_toml(path), ServerConfig)
    for key in ("database", "catalog_url"):
        if values.get(key) and not is_postgres(values[key]):
            problems.append(
                ConfigProblem(key, "expected a postgresql:// URL, or nothing (the SQLite file in data_dir)"))
    if problems:
        raise ConfigError(path, problems)
    return ServerConfig(**values)
