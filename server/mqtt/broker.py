"""The project's Mosquitto: config files rendered from systemd/mosquitto/ and a process wrapper.

Production and tests use the same templates: production renders them once into /etc (the systemd unit
runs `mosquitto -c <folder>/mosquitto.conf`), tests and the demo render them into a temporary folder and
run the broker through BrokerProcess. In production the running server then keeps `passwd` and `acl` equal to
the live stations (BrokerAccounts, wired by server.app.serve from `broker_files_dir`).
"""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.durable import write_atomic
from protocol.topics import DEFAULT_PREFIX, TopicError, check_station_id, root
from server.records.mqtt_password import hash_password, is_password_hash, verify_password  # noqa: F401 - also its API

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parents[2] / "systemd" / "mosquitto"
MOSQUITTO = "mosquitto"


class BrokerError(RuntimeError):
    """The broker could not be configured or started."""


@dataclass(frozen=True)
class TlsConfig:
    """TLS on the listener. Stations then connect with the CA that signed `certfile`."""

    certfile: Path
    keyfile: Path
    cafile: Path | None = None  # set to require client certificates signed by this CA
    require_certificate: bool = False


@dataclass(frozen=True)
class BrokerConfig:
    port: int
    accounts: dict[str, str]  # username -> password; stations log in with their station id
    server_user: str
    bind: str = "127.0.0.1"
    tls: TlsConfig | None = None
    prefix: str = DEFAULT_PREFIX
    # Mosquitto drops root privileges to this user; None keeps the user running this process.
    run_user: str | None = None
    station_users: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise BrokerError(f"invalid port {self.port}")
        if self.server_user not in self.accounts:
            raise BrokerError(f"server account {self.server_user!r} has no password in accounts")
        for user, password in self.accounts.items():
            try:
                check_station_id(user)  # same alphabet for every account: safe in ACL %u patterns
            except TopicError as exc:
                raise BrokerError(f"invalid account name {user!r}: use [a-z0-9-]{{1,32}}") from exc
            if not password or "\n" in password:
                raise BrokerError(f"account {user!r}: empty or multi-line password")
        stations = tuple(sorted(u for u in self.accounts if u != self.server_user))
        object.__setattr__(self, "station_users", stations)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on `host` (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _render(name: str, values: dict[str, object]) -> str:
    return Template((TEMPLATES / name).read_text(encoding="utf-8")).substitute(values)


def _tls_block(tls: TlsConfig | None) -> str:
    if tls is None:
        return "# TLS off (set BrokerConfig.tls to turn it on)"
    lines = [f"certfile {tls.certfile}", f"keyfile {tls.keyfile}", "tls_version tlsv1.2"]
    if tls.cafile is not None:
        lines.append(f"cafile {tls.cafile}")
    lines.append(f"require_certificate {'true' if tls.require_certificate else 'false'}")
    return "\n".join(lines)


def write_account_files(folder: Path, config: BrokerConfig, *, group_readable: bool = False) -> tuple[Path, Path]:
    """Write only `passwd` and `acl` into `folder` (each atomically); return their paths.

    `group_readable`: mode 0640 with the folder's group, for a broker running as another user that shares
    the group (production: the server writes, mosquitto reads); otherwise 0600.
    """
    folder = Path(folder).resolve()
    passwd = folder / "passwd"
    acl = folder / "acl"
    mode, gid = (0o640, folder.stat().st_gid) if group_readable else (0o600, None)
    # Accounts from server.db arrive hashed already; the server's own account (a file) as a password.
    lines = [f"{user}:{pw if is_password_hash(pw) else hash_password(pw)}"
             for user, pw in sorted(config.accounts.items())]
    # acl first: a path unit watching passwd reloads the broker once both are in place.
    _write_private(
        acl, _render("acl.tpl", {"server_user": config.server_user, "root": root(config.prefix)}), mode=mode, gid=gid
    )
    _write_private(passwd, "\n".join(lines) + "\n", mode=mode, gid=gid)
    return passwd, acl


def write_broker_files(
    folder: Path, config: BrokerConfig, *, data_dir: Path | None = None, group_readable: bool = False
) -> Path:
    """Write mosquitto.conf, passwd and acl into `folder` (each atomically); return the conf.

    `data_dir`: mosquitto's persistence folder (default `<folder>/data`, created). Production puts it where
    the broker's unit may write (/var/lib/sohoa-mosquitto), not under the read-only /etc/sohoa/mosquitto.
    """
    folder = Path(folder).resolve()
    data_dir = Path(data_dir).resolve() if data_dir is not None else folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    passwd, acl = write_account_files(folder, config, group_readable=group_readable)
    run_user = config.run_user or pwd.getpwuid(os.geteuid()).pw_name
    conf = folder / "mosquitto.conf"
    text = _render(
        "mosquitto.conf.tpl",
        {
            "password_file": passwd,
            "acl_file": acl,
            "data_dir": data_dir,
            "run_user": run_user,
            "port": config.port,
            "bind": config.bind,
            "tls_block": _tls_block(config.tls),
        },
    )
    mode, gid = (0o640, folder.stat().st_gid) if group_readable else (0o600, None)
    _write_private(conf, text, mode=mode, gid=gid)
    return conf


def new_secret() -> str:
    """A random broker password (URL-safe, no newline)."""
    return secrets.token_urlsafe(24)


def render_installed_broker(
    config: Any,
    *,
    folder: Path,
    data_dir: Path,
    password_file: Path,
    port: int = 1883,
    bind: str = "0.0.0.0",
    run_user: str = "mosquitto",
    tls: TlsConfig | None = None,
) -> tuple[Path, list[str]]:
    """Render the production broker (`sohoa server broker-config`) from a ServerConfig; idempotent.
    `tls`: the listener speaks MQTT over TLS only (stations set `broker_tls_ca`), so passwords never cross
    the LAN in clear.

    The server's own account password is read from `password_file`, or made once (0600) when it does not
    exist yet, so re-running keeps it. Stations come from the records database, revoked ones left out; a
    database that does not exist yet (first install) means no stations, and is not created here.
    Returns the conf path and the station ids.
    """
    password_file = Path(password_file)
    if not password_file.exists():
        _write_private(password_file, new_secret() + "\n")
    password = password_file.read_text(encoding="utf-8").strip()
    if not password:
        raise BrokerError(f"{password_file} is empty: delete it to make a new one")
    accounts = {config.broker_user: password}
    from server.config import is_postgres
    from server.databases import open_server_db

    target = config.db_target
    if is_postgres(target) or Path(target).exists():
        accounts = {**open_server_db(target).mqtt_accounts(), **accounts}
    broker = BrokerConfig(
        port=port,
        accounts=accounts,
        server_user=config.broker_user,
        bind=bind,
        prefix=config.mqtt_prefix,
        run_user=run_user,
        tls=tls,
    )
    conf = write_broker_files(folder, broker, data_dir=data_dir, group_readable=True)
    log.info("broker rendered in %s: %d stations, persistence in %s", folder, len(broker.station_users), data_dir)
    return conf, list(broker.station_users)


def _write_private(path: Path, text: str, *, mode: int = 0o600, gid: int | None = None) -> None:
    # Password hashes and the ACL: readable by their owner (and the broker's group) only; atomic, so a broker
    # reloading at that moment never reads half a file.
    write_atomic(path, text.encode("utf-8"), mode=mode, gid=gid)


class BrokerProcess:
    """`mosquitto -c conf` as a child process; start() returns once the port accepts connections."""

    def __init__(self, conf: Path, *, port: int, host: str = "127.0.0.1", log_path: Path | None = None):
        self.conf = Path(conf)
        self.port = port
        self.host = host
        self.log_path = log_path or self.conf.parent / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_config(cls, folder: Path, config: BrokerConfig) -> BrokerProcess:
        conf = write_broker_files(folder, config)
        host = "127.0.0.1" if config.bind in ("0.0.0.0", "") else config.bind
        return cls(conf, port=config.port, host=host)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        with open(self.log_path, "ab") as out:
            try:
                self._proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT)
            except FileNotFoundError as exc:
                raise BrokerError("mosquitto is not installed (apt-get install mosquitto)") from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"mosquitto exited with {self._proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    log.info("mosquitto listening on %s:%s (pid %s)", self.host, self.port, self._proc.pid)
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} in {timeout} s")

    def reload(self) -> None:
        """SIGHUP: mosquitto re-reads its password and ACL files (a revoked station is dropped)."""
        import signal

        if self.running and self._proc is not None:
            self._proc.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (Mosquitto saves its persistence file), SIGKILL if it does not exit in time."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> BrokerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def connect_client(
    *,
    host: str,
    port: int,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 5.0,
    tls_ca: str | None = None,
) -> tuple[mqtt.Client, Any]:
    """A plain paho client, connected and looping, and the broker's CONNACK reason (None: no answer).

    For health checks, benchmarks and tests; a refused client is returned stopped.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, reconnect_on_failure=False)
    if username is not None:
        client.username_pw_set(username, password)
    if tls_ca:
        client.tls_set(ca_certs=tls_ca)
    answered = threading.Event()
    reasons: list[Any] = []

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        reasons.append(reason)
        answered.set()

    client.on_connect = on_connect
    client.connect(host, port, keepalive=30)
    client.loop_start()
    answered.wait(timeout)
    reason = reasons[0] if reasons else None
    if reason is None or reason.is_failure:
        client.loop_stop()
        client.disconnect()
    return client, reason


# -------------------------------------------------------------------------------------- production sync


@dataclass
class BrokerAccounts:
    """Keeps an installed mosquitto's accounts equal to the live stations (the `apply(db)` of BrokerSync).

    Unlike enrollment.BrokerSync it writes only `passwd` and `acl`: mosquitto.conf (listener, TLS, user)
    stays as installed. `reload` then tells mosquitto to re-read them; None when a systemd path unit
    watching `passwd` reloads the broker (systemd/sohoa-broker-reload.path).
    """

    folder: Path
    server_user: str
    server_password: str
    prefix: str = DEFAULT_PREFIX
    reload: Callable[[], None] | None = None
    group_readable: bool = True

    def apply(self, db: Any) -> list[str]:
        """Render the files for the stations in `db` (revoked ones left out), then reload."""
        accounts = {**db.mqtt_accounts(), self.server_user: self.server_password}
        # BrokerConfig validates the account names and passwords; its listener fields are not used here.
        config = BrokerConfig(port=1883, accounts=accounts, server_user=self.server_user, prefix=self.prefix)
        write_account_files(self.folder, config, group_readable=self.group_readable)
        if self.reload is not None:
            self.reload()
        log.info("broker accounts rendered in %s: %d stations", self.folder, len(config.station_users))
        return list(config.station_users)


def pid_file_reload(pid_file: Path) -> Callable[[], None]:
    """A reload callback: SIGHUP to the PID written in `pid_file` (mosquitto's `pid_file`, or the unit's)."""
    import signal

    def reload() -> None:
        try:
            pid = int(Path(pid_file).read_text().split()[0])
        except (OSError, ValueError, IndexError) as exc:
            raise BrokerError(f"cannot read the broker's PID from {pid_file}: {exc}") from exc
        if pid <= 1:
            raise BrokerError(f"refusing to signal PID {pid} from {pid_file}")
        try:
            os.kill(pid, signal.SIGHUP)
        except OSError as exc:
            raise BrokerError(f"cannot signal the broker (PID {pid} from {pid_file}): {exc}") from exc

    return reload


def accounts_sync_for(config: Any) -> BrokerAccounts | None:
    """The BrokerAccounts a server.toml asks for (`broker_files_dir`), or None when the broker is not managed."""
    folder = getattr(config, "broker_files_dir", None)
    if not folder:
        return None
    if not config.broker_password_file:
        raise BrokerError("broker_files_dir is set but broker_password_file (the server's own account) is not")
    password = Path(config.broker_password_file).read_text(encoding="utf-8").strip()
    pid_file = getattr(config, "broker_pid_file", None)
    return BrokerAccounts(
        folder=Path(folder),
        server_user=config.broker_user,
        server_password=password,
        prefix=config.mqtt_prefix,
        reload=pid_file_reload(pid_file) if pid_file else None,
    )
