"""Station settings: one typed model, loaded by protocol.config (unknown keys, types, ranges reported);
secrets live in files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from protocol.config import ConfigError, ConfigProblem, load, pkcs12_problem
from station.processing.config import ProcessingConfig

PORT = {"range": (1, 65535)}


@dataclass
class StationConfig:
    data_dir: Path
    station_id: str = "station-1"
    host: str = "127.0.0.1"
    port: int = field(default=8090, metadata=PORT)
    server_url: str = ""
    discover: bool = False  # no server_url: look for one on the LAN (zeroconf) for the admin to confirm
    token_file: Path | None = None
    server_ca_file: Path | None = None  # pinned CA of the server's HTTPS certificate
    broker_host: str = ""
    broker_port: int = field(default=1883, metadata=PORT)
    broker_password_file: Path | None = None
    broker_tls_ca: Path | None = None  # MQTT over TLS: the CA (or certificate) the broker's listener uses
    mqtt_prefix: str = "sohoa"
    device: str = "test:0"
    # a GPIO button / foot switch (Raspberry Pi, gpiozero) repeats the last scan
    trigger_gpio_pin: int = field(default=0, metadata={"range": (0, 63)})
    # lossless originals: png (default) or tiff (fast CPU-wise, 26 MB/page)
    capture_format: str = field(default="png", metadata={"choices": ("png", "tiff")})
    # refuse to scan below this much free disk (never a half-written batch)
    min_free_mb: float = field(default=500.0, metadata={"range": (0, None)})
    sane_backends: str = "test"
    agency_name: str = ""
    signing_p12: Path | None = field(default=None, metadata={"exists": "file"})
    signing_passphrase_file: Path | None = field(default=None, metadata={"exists": "file"})
    pkcs11_module: str = ""
    pkcs11_token: str = ""
    pkcs11_key: str = ""
    pkcs11_pin_file: Path | None = None
    tsa_url: str = ""  # RFC 3161 time-stamping service: signatures become PAdES B-T
    ocr_lang: str = "vie"
    # 0: one per core
    workers: int = field(default=0, metadata={"range": (0, 256)})
    sync_interval: float = field(default=5.0, metadata={"range": (0.1, 86400)})
    package_kind: str = field(default="AIP", metadata={"choices": ("AIP", "SIP")})
    # [processing]: deskew, orientation, blank and quality thresholds (station/processing/config.py)
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "station.db"

    @property
    def sane_dir(self) -> Path:
        return self.data_dir / "sane"

    def token(self) -> str:
        return self.token_file.read_text().strip() if self.token_file else ""

    def broker_password(self) -> str:
        return self.broker_password_file.read_text().strip() if self.broker_password_file else ""


def load_config(path: Path) -> StationConfig:
    """Read a station.toml; every problem is reported at once (protocol.config.ConfigError). The signing
    key must open with its passphrase now, not at the first hồ sơ finished."""
    config = load(path, StationConfig)
    if config.signing_p12 and (problem := pkcs12_problem(config.signing_p12, config.signing_passphrase_file)):
        raise ConfigError(path, [ConfigProblem("signing_p12", problem)])
    return config
