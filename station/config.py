"""Station settings: one typed model, loaded from TOML; unknown keys are an error; secrets live in files."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from station.processing.config import ProcessingConfig, processing_config


@dataclass
class StationConfig:
    data_dir: Path
    station_id: str = "station-1"
    host: str = "127.0.0.1"
    port: int = 8090
    server_url: str = ""
    discover: bool = False  # no server_url: look for one on the LAN (zeroconf) for the admin to confirm
    token_file: Path | None = None
    server_ca_file: Path | None = None  # pinned CA of the server's HTTPS certificate
    broker_host: str = ""
    broker_port: int = 1883
    broker_password_file: Path | None = None
    broker_tls_ca: Path | None = None  # MQTT over TLS: the CA (or certificate) the broker's listener uses
    mqtt_prefix: str = "sohoa"
    device: str = "test:0"
    trigger_gpio_pin: int = 0  # a GPIO button / foot switch (Raspberry Pi, gpiozero) repeats the last scan
    capture_format: str = "png"  # lossless originals: png (default) or tiff (fast CPU-wise, 26 MB/page)
    min_free_mb: float = 500.0  # refuse to scan below this much free disk (never a half-written batch)
    sane_backends: str = "test"
    agency_name: str = ""
    signing_p12: Path | None = None
    signing_passphrase_file: Path | None = None
    pkcs11_module: str = ""
    pkcs11_token: str = ""
    pkcs11_key: str = ""
    pkcs11_pin_file: Path | None = None
    tsa_url: str = ""  # RFC 3161 time-stamping service: signatures become PAdES B-T
    ocr_lang: str = "vie"
    workers: int = 0  # 0: one per core
    sync_interval: float = 5.0
    package_kind: str = "AIP"
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


PATH_FIELDS = {f.name for f in fields(StationConfig) if "Path" in str(f.type)}


def load_config(path: Path) -> StationConfig:
    """Read a station.toml; every problem is reported at once."""
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    known = {f.name for f in fields(StationConfig)}
    problems = [f"unknown setting {k!r}" for k in sorted(set(raw) - known)]
    if "data_dir" not in raw:
        problems.append("data_dir is required")
    section = raw.get("processing", {})
    if not isinstance(section, dict):
        problems.append("processing must be a table ([processing])")
    else:
        try:
            raw["processing"] = processing_config(section)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    for key in PATH_FIELDS & set(raw):
        raw[key] = Path(raw[key])
    return StationConfig(**raw)
