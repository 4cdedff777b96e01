"""`sohoa config check`: validate /etc/sohoa/station.toml or server.toml and report every problem at once.

The roles' own `load_config` stays the authority on what a setting is; this module first checks what
`load_config` cannot report together (syntax, unknown keys, types), then what only an installed machine can
answer: folders exist, secret files are private (0600), ports and URLs make sense, certificates parse.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import subprocess
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from protocol.i18n import N_
from protocol.ids import is_station_id
from sohoa.appliance.problems import Problem, _err, _warn

PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9-]{1,63})*$")
STATION_SECRETS = ("token_file", "broker_password_file", "signing_passphrase_file", "pkcs11_pin_file", "signing_p12")
SERVER_SECRETS = ("broker_password_file",)


# -- generic steps --------------------------------------------------------------------------------


def _read_toml(path: Path) -> tuple[dict | None, list[Problem]]:
    from protocol.config import ConfigError, read_toml

    try:
        return read_toml(path), []
    except ConfigError as exc:
        return None, [_err("", N_("Configuration file missing or unreadable: %(error)s"), error=str(exc))]


def _shape(raw: dict, model: type) -> tuple[dict, list[Problem]]:
    """The loader's own verdict (protocol.config.parse): unknown keys, required keys, types, ranges."""
    from protocol.config import parse

    values, found = parse(raw, model)
    return values, [_err(p.key, N_("Wrong setting: %(problem)s"), problem=p.message) for p in found]


def _load(loader: Any, path: Path) -> tuple[Any, list[Problem]]:
    from protocol.config import ConfigError

    try:
        return loader(path), []
    except ConfigError as exc:
        return None, [_err(p.key, N_("Wrong setting: %(problem)s"), problem=p.message) for p in exc.problems]


# -- deeper checks --------------------------------------------------------------------------------


def _data_dir(key: str, path: Path) -> list[Problem]:
    if not path.is_absolute():
        return [_err(key, N_("%(path)s must be an absolute path"), path=path)]
    if not path.is_dir():
        return [
            _err(
                key,
                N_("folder %(path)s does not exist (the installer creates it)"), path=path,
            )
        ]
    if not os.access(path, os.W_OK):
        return [_err(key, N_("folder %(path)s is not writable"), path=path)]
    return []


def _secret(key: str, path: Path | None) -> list[Problem]:
    """A secret file must exist and be readable by its owner only; its content is never printed."""
    if path is None:
        return []
    try:
        info = path.stat()
    except FileNotFoundError:
        return [_err(key, N_("secret file %(path)s does not exist"), path=path)]
    if not stat.S_ISREG(info.st_mode):
        return [_err(key, N_("%(path)s is not a regular file"), path=path)]
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return [
            _err(
                key,
                N_("%(path)s has mode %(mode)s: secrets must be 0600 (chmod 600 %(path)s)"),
                path=path, mode=f"{mode:04o}",
            )
        ]
    if info.st_size == 0:
        return [_err(key, N_("secret file %(path)s is empty"), path=path)]
    return []


def _port(key: str, port: int) -> list[Problem]:
    if not 1 <= port <= 65535:
        return [_err(key, N_("port %(port)s is outside 1-65535"), port=port)]
    if port < 1024:  # the units grant no CAP_NET_BIND_SERVICE: the service could not bind it
        return [
            _err(
                key,
                N_("port %(port)s needs root; use 1024 or above (nginx serves 443)"), port=port,
            )
        ]
    return []


def _host(key: str, host: str) -> list[Problem]:
    try:
        ipaddress.ip_address(host)
        return []
    except ValueError:
        pass
    if HOSTNAME_RE.match(host):
        return []
    return [
        _err(
            key,
            N_("'%(host)s' is neither an IP address nor a host name"), host=host,
        )
    ]


def _url(key: str, url: str, *, want_tls: bool) -> list[Problem]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [_err(key, N_("'%(url)s' is not an http(s) URL"), url=url)]
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return [_err(key, N_("'%(url)s' has a bad port"), url=url)]
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if want_tls and parts.scheme == "http" and not loopback:
        return [
            _warn(
                key,
                N_("%(url)s is not encrypted: use https (docs/install.md, HTTPS)"), url=url,
            )
        ]
    return []


def _certificates(key: str, path: Path) -> list[Problem]:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except FileNotFoundError:
        return [_err(key, N_("certificate file %(path)s does not exist"), path=path)]
    except ValueError as exc:
        return [_err(key, N_("%(path)s holds no PEM certificate: %(exc)s"), path=path, exc=exc)]
    from protocol.clock import now_vn

    now = now_vn()
    return [
        _err(
            key,
            N_("certificate %(subject)s in %(path)s expired on %(day)s"), subject=c.subject.rfc4514_string(),
            path=path, day=f"{c.not_valid_after_utc:%d/%m/%Y}",
        )
        for c in certs
        if c.not_valid_after_utc < now
    ]


def _postgres_url(key: str, url: str) -> list[Problem]:
    """A PostgreSQL URL (`database`, `catalog_url`): well formed, no password in it, and reachable now."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    from server.config import is_postgres

    if not is_postgres(url):
        return [
            _err(
                key,
                N_("'%(url)s' is not a postgresql:// URL (leave it empty for the SQLite file)"), url=url,
            )
        ]
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        return [
            _err(
                key,
                N_("'%(url)s' is not a valid PostgreSQL URL: %(exc)s"), url=url, exc=exc,
            )
        ]
    if params.get("password"):
        return [
            _err(
                key,
                N_("the URL holds a password: put it in ~/.pgpass (0600) of the service user"),
            )
        ]
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [_err(key, N_("cannot connect to %(url)s: %(reason)s"), url=url, reason=reason)]
    return []


def _shared_records(cfg: Any) -> list[Problem]:
    """Several servers share both the records and the catalogue, or neither (docs/scaling.md)."""
    if cfg.database and not cfg.catalog_url:
        return [
            _warn(
                "catalog_url",
                N_("database is shared (PostgreSQL) but the catalogue is this server's SQLite file: packages "
                   "accepted by another server are not found here"),
            )
        ]
    if cfg.catalog_url and not cfg.database:
        return [
            _warn(
                "database",
                N_("the catalogue is shared but stations, uploads and work orders are this server's SQLite file: "
                   "pin each station to one server"),
            )
        ]
    return []


def _tesseract_langs(key: str, langs: str) -> list[Problem]:
    try:
        out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=20)
    except FileNotFoundError:
        return [_err(key, N_("tesseract is not installed"))]
    except subprocess.TimeoutExpired:
        return [_warn(key, N_("tesseract --list-langs timed out"))]
    have = set(out.stdout.split())
    return [
        _err(
            key,
            N_("Tesseract language '%(lang_)s' is not installed (apt install tesseract-ocr-%(lang_)s)"), lang_=lang,
        )
        for lang in langs.split("+")
        if lang not in have
    ]


def _signing_key(cfg: Any) -> list[Problem]:
    """The PKCS#12 signing key must open with its passphrase file (the loader's own rule)."""
    from protocol.config import pkcs12_problem

    if not cfg.signing_p12 or not Path(cfg.signing_p12).is_file():
        return []  # a missing file is reported by the secret-file check
    problem = pkcs12_problem(cfg.signing_p12, cfg.signing_passphrase_file)
    return [_err("signing_p12", N_("The signing key does not open (%(problem)s): damaged file or wrong passphrase"),
                 problem=problem)] if problem else []


def _station_checks(cfg: Any) -> list[Problem]:
    p: list[Problem] = _signing_key(cfg)
    p += _data_dir("data_dir", cfg.data_dir)
    if not is_station_id(cfg.station_id):
        p.append(
            _err("station_id", N_("A station id has 1-32 characters a-z, 0-9 or '-'."))
        )
    p += _host("host", cfg.host) + _port("port", cfg.port)
    if cfg.server_url:
        p += _url("server_url", cfg.server_url, want_tls=True)
        if not cfg.token_file:
            p.append(
                _err(
                    "token_file",
                    N_("server_url is set but token_file is not: the server will answer 401"),
                )
            )
        ca = getattr(cfg, "server_ca_file", None)
        if urlsplit(cfg.server_url).scheme == "https" and not ca and hasattr(cfg, "server_ca_file"):
            p.append(
                _warn(
                    "server_ca_file",
                    N_("https without a pinned CA: any CA the system trusts is accepted"),
                )
            )
        if ca:
            p += _certificates("server_ca_file", Path(ca))
    if cfg.broker_host:
        p += _host("broker_host", cfg.broker_host) + _port("broker_port", cfg.broker_port)
        if not cfg.broker_password_file:
            p.append(
                _err(
                    "broker_password_file",
                    N_("broker_host is set but broker_password_file is not"),
                )
            )
    for key in STATION_SECRETS:
        p += _secret(key, getattr(cfg, key))
    if not PREFIX_RE.match(cfg.mqtt_prefix):
        p.append(
            _err(
                "mqtt_prefix",
                N_("must be letters, digits, '_' or '-' (no '/', '+', '#')"),
            )
        )
    backends = [b.strip() for b in cfg.sane_backends.split(",") if b.strip()]
    if ":" not in cfg.device:
        p.append(
            _err(
                "device",
                N_("'%(device)s' is not a SANE device id (backend:...)"), device=cfg.device,
            )
        )
    elif cfg.device.split(":", 1)[0] not in backends:
        p.append(
            _err(
                "device",
                N_("backend '%(value)s' is not in sane_backends"), value=cfg.device.split(':', 1)[0],
            )
        )
    if cfg.signing_p12 and cfg.pkcs11_module:
        p.append(
            _err(
                "signing_p12",
                N_("set either signing_p12 or pkcs11_module, not both"),
            )
        )
    elif not cfg.signing_p12 and not cfg.pkcs11_module:
        p.append(
            _warn(
                "signing_p12",
                N_("no signing key: documents cannot be finished"),
            )
        )
    if cfg.pkcs11_module and not Path(cfg.pkcs11_module).is_file():
        p.append(
            _err(
                "pkcs11_module",
                N_("%(pkcs11_module)s does not exist"), pkcs11_module=cfg.pkcs11_module,
            )
        )
    if cfg.tsa_url:
        p += _url("tsa_url", cfg.tsa_url, want_tls=False)
    p += _tesseract_langs("ocr_lang", cfg.ocr_lang)
    if cfg.workers < 0:
        p.append(_err("workers", N_("must be 0 (one per core) or more")))
    if cfg.sync_interval <= 0:
        p.append(_err("sync_interval", N_("must be more than 0 seconds")))
    if cfg.package_kind not in ("AIP", "SIP"):
        p.append(_err("package_kind", N_("must be AIP or SIP")))
    return p


def _server_checks(cfg: Any, *, service_user: str = "sohoa") -> list[Problem]:
    from sohoa.appliance.broker_check import broker_checks

    p: list[Problem] = []
    p += _data_dir("data_dir", cfg.data_dir)
    p += _host("host", cfg.host) + _port("port", cfg.port)
    if cfg.host not in ("127.0.0.1", "::1", "localhost"):
        p.append(
            _warn(
                "host",
                N_("waitress listens beyond this machine without TLS: keep 127.0.0.1 behind nginx"),
            )
        )
    if cfg.backup_dir:
        p += _data_dir("backup_dir", cfg.backup_dir)
        if (
            cfg.data_dir.is_dir()
            and cfg.backup_dir.is_dir()
            and os.stat(cfg.data_dir).st_dev == os.stat(cfg.backup_dir).st_dev
        ):
            p.append(
                _warn(
                    "backup_dir",
                    N_("the second copy is on the same disk as data_dir"),
                )
            )
    else:
        p.append(
            _warn(
                "backup_dir",
                N_("no second copy of packages (set backup_dir on other media)"),
            )
        )
    if not cfg.trust_roots:
        p.append(
            _warn(
                "trust_roots",
                N_("no trusted agency root CA: every signed package will be rejected"),
            )
        )
    for root in cfg.trust_roots:
        p += _certificates("trust_roots", Path(root))
    if cfg.broker_host:
        p += _host("broker_host", cfg.broker_host) + _port("broker_port", cfg.broker_port)
        if not cfg.broker_password_file:
            p.append(
                _err(
                    "broker_password_file",
                    N_("broker_host is set but broker_password_file is not"),
                )
            )
    for key in SERVER_SECRETS:
        p += _secret(key, getattr(cfg, key))
    p += broker_checks(cfg, service_user=service_user)
    for key in ("database", "catalog_url"):
        if getattr(cfg, key, ""):
            p += _postgres_url(key, getattr(cfg, key))
    p += _shared_records(cfg)
    if not PREFIX_RE.match(cfg.mqtt_prefix):
        p.append(
            _err(
                "mqtt_prefix",
                N_("must be letters, digits, '_' or '-' (no '/', '+', '#')"),
            )
        )
    return p


# -- public ---------------------------------------------------------------------------------------


def check_station_config(path: Path) -> list[Problem]:
    """Every problem of a station.toml (errors and warnings), without stopping at the first."""
    from station.config import StationConfig, load_config

    return _check(Path(path), StationConfig, load_config, _station_checks)


def check_server_config(path: Path, *, service_user: str = "sohoa") -> list[Problem]:
    """Every problem of a server.toml (errors and warnings), without stopping at the first.

    `service_user`: whose access to folders the server writes is checked when this runs as root."""
    from server.config import ServerConfig, load_config

    return _check(Path(path), ServerConfig, load_config, partial(_server_checks, service_user=service_user))


def _check(path: Path, model: type, loader: Any, deeper: Any) -> list[Problem]:
    raw, problems = _read_toml(path)
    if raw is None:
        return problems
    values, problems = _shape(raw, model)
    if not problems:
        cfg, problems = _load(loader, path)
        if cfg is not None:
            return deeper(cfg)
    # load_config would stop here: check the settings that are sound anyway, so one run shows everything.
    bad = {p.key for p in problems}
    if "data_dir" in bad:
        return problems
    sound = {k: v for k, v in values.items() if k not in bad}
    return problems + [p for p in deeper(model(**sound)) if p.key not in bad]


def has_errors(problems: list[Problem]) -> bool:
    return any(not p.warning for p in problems)
