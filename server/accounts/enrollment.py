"""Station enrollment: one-time codes an admin hands to a station, redeemed for the station's identity.

A code is 12 characters of Crockford base32 (no I, L, O, U: nothing to misread on a phone call), shown as
XXXX-XXXX-XXXX: 60 bits, enough with per-address rate limiting and a one-day lifetime. Only its SHA-256 is
stored; redeeming it is one UPDATE guarded by `used_at IS NULL`, so two stations racing for one code cannot
both win, on one server or on several sharing PostgreSQL records (the UPDATE re-checks the row another
transaction just changed). The codes live in their own table of the server's records (server/records/db.py).

Revocation reaches the broker through `BrokerSync`: it re-renders mosquitto's password and ACL files from
the live station accounts and asks mosquitto to reload them (SIGHUP; mosquitto 2.0 re-reads password_file
and acl_file then, and drops connected clients whose account is gone).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from protocol.clock import iso_vn
from protocol.errors import UserError
from protocol.i18n import N_
from protocol.topics import TopicError, check_station_id
from server.databases import open_server_db
from server.records.db import Records

log = logging.getLogger("sohoa.server.enrollment")

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
CODE_LENGTH = 12
DEFAULT_TTL_S = 86400


class EnrollmentError(UserError, ValueError):
    """A refused enrollment step; `.text(lang)` is what the admin or the station's installer sees."""

    def __init__(self, code: str, message: str | None = None, **params: Any):
        super().__init__(message, key=code, **params)
        self.code = code


# ------------------------------------------------------------------------------------------------ codes


def normalize_code(code: str) -> str:
    """Upper case without dashes and spaces; O→0 and I/L→1 as Crockford base32 reads them."""
    text = "".join(ch for ch in str(code).upper() if ch not in "- \t")
    return text.translate(str.maketrans("OIL", "011"))


def hash_code(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def _records(db: Records | str | Path) -> Records:
    """The server's records, or ones opened from a SQLite path or PostgreSQL URL (the CLI's case)."""
    return db if isinstance(db, Records) else open_server_db(db)


def check_new_station_id(station_id: str) -> str:
    """Station ids are MQTT user names and topic levels: [a-z0-9-]{1,32}, and never the server's account."""
    try:
        check_station_id(station_id)
    except TopicError as exc:
        raise EnrollmentError(
            "bad_station_id",
            N_("invalid station id '%(station_id)s': use [a-z0-9-]{1,32}"), station_id=station_id,
        ) from exc
    if station_id == "server":
        raise EnrollmentError(
            "bad_station_id",
            N_("'server' is the server's own broker account"),
        )
    return station_id


def create_enrollment_code(
    db: Records | str | Path, station_id: str, *, ttl_s: int = DEFAULT_TTL_S, name: str = "", created_by: str = ""
) -> str:
    """A new one-time code for `station_id`, valid `ttl_s` seconds; returned once, stored hashed."""
    check_new_station_id(station_id)
    if ttl_s <= 0:
        raise EnrollmentError("bad_ttl", N_("ttl_s must be positive"))
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    with _records(db).tx() as conn:
        conn.execute("DELETE FROM enrollment_codes WHERE expires_at < ?", (time.time() - 7 * 86400,))
        conn.execute(
            "INSERT INTO enrollment_codes (code_hash, station_id, name, created_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (hash_code(raw), station_id, name or station_id, created_by, iso_vn(), time.time() + ttl_s),
        )
    log.info("enrollment code created for station %s by %s (valid %d s)", station_id, created_by or "cli", ttl_s)
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def pending_codes(db: Records | str | Path) -> list[dict[str, Any]]:
    """Unused, unexpired codes (without the codes themselves, which are not kept)."""
    return _records(db).query(
        "SELECT station_id, name, created_by, created_at, expires_at FROM enrollment_codes"
        " WHERE used_at IS NULL AND expires_at > ? ORDER BY created_at",
        (time.time(),),
    )


def burn_code(db: Records | str | Path, code: str, *, station_id: str | None = None) -> dict[str, Any]:
    """Mark the code used and return its row; EnrollmentError if unknown, used, expired or for another station.

    A wrong `station_id` does not burn the code: the installer can retry with the right one.
    """
    unknown = EnrollmentError(
        "bad_code",
        N_("enrollment code unknown, already used or expired"),
    )
    digest = hash_code(code)
    if len(normalize_code(code)) != CODE_LENGTH:
        raise unknown
    records = _records(db)
    row = records.one("SELECT * FROM enrollment_codes WHERE code_hash = ?", (digest,))
    if row is None or row["used_at"] is not None or row["expires_at"] <= time.time():
        raise unknown
    if station_id and station_id != row["station_id"]:
        raise EnrollmentError(
            "station_mismatch",
            N_("this code is for another station, not '%(station_id)s'"), station_id=station_id,
        )
    with records.tx() as conn:
        cur = conn.execute(
            "UPDATE enrollment_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL", (iso_vn(), digest)
        )
        won = cur.rowcount == 1
    if not won:  # another request (on this server or another) redeemed it between our SELECT and UPDATE
        raise unknown
    return row


# ----------------------------------------------------------------------------------------- redemption


def ca_fingerprint(pem: bytes) -> str:
    """SHA-256 of the certificate's DER, as `openssl x509 -fingerprint -sha256` prints it."""
    cert = x509.load_pem_x509_certificate(pem)
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def server_ca_pem(config: Any) -> bytes | None:
    """The CA behind the server's HTTPS certificate, when the server runs behind TLS.

    `tls_ca_file` in server.toml when set; else `<data_dir>/tls/ca.crt` if it exists; else None (plain HTTP).
    """
    path = getattr(config, "tls_ca_file", None) or Path(config.data_dir) / "tls" / "ca.crt"
    path = Path(path)
    return path.read_bytes() if path.is_file() else None


def redeem(context: Any, code: str, *, station_id: str | None = None) -> dict[str, Any]:
    """Burn `code` and (re-)key its station: the identity the station stores, secrets included, once."""
    row = burn_code(context.db, code, station_id=station_id)
    creds = context.db.add_station(row["station_id"], name=row["name"])
    identity: dict[str, Any] = {
        "station_id": creds["station_id"],
        "name": row["name"],
        "token": creds["token"],
        "mqtt_username": creds["station_id"],
        "mqtt_password": creds["mqtt_password"],
        "mqtt_prefix": getattr(context.config, "mqtt_prefix", "sohoa"),
        "server_key_pem": context.public_key_pem,
    }
    pem = server_ca_pem(context.config)
    if pem is not None:
        identity["tls_ca_pem"] = pem.decode()
        identity["tls_ca_sha256"] = ca_fingerprint(pem)
    log.info("station %s enrolled", row["station_id"])
    return identity


# ---------------------------------------------------------------------------------------------- broker


@dataclass
class BrokerSync:
    """Keeps mosquitto's accounts equal to the live (not revoked) stations plus the server's own account.

    `base` gives port, bind, TLS and the server account; its station accounts are replaced on each apply.
    `reload` tells the running mosquitto to re-read its files: `signal_process(broker_process)` in tests
    and the demo; in production a systemd path unit watching the password file runs
    `systemctl reload sohoa-mosquitto` (the server's user may not signal mosquitto's).
    """

    folder: Path
    base: Any  # server.mqtt.broker.BrokerConfig
    reload: Callable[[], None] | None = None

    def apply(self, db: Any) -> list[str]:
        """Render the files for the stations in `db`, then reload; returns the station accounts written."""
        from server.mqtt.broker import write_broker_files

        server_password = self.base.accounts[self.base.server_user]
        accounts = {**db.mqtt_accounts(), self.base.server_user: server_password}
        config = dataclasses.replace(self.base, accounts=accounts)
        write_broker_files(self.folder, config)
        if self.reload is not None:
            self.reload()
        log.info("broker accounts rendered: %d stations", len(config.station_users))
        return list(config.station_users)


def signal_process(process: Any) -> Callable[[], None]:
    """A reload callback sending SIGHUP to a running server.mqtt.broker.BrokerProcess."""

    def reload() -> None:
        own = getattr(process, "reload", None)
        if callable(own):
            own()
            return
        proc = getattr(process, "_proc", None)  # BrokerProcess has no public reload yet
        if proc is None or proc.poll() is not None:
            raise RuntimeError("mosquitto is not running: cannot reload its accounts")
        proc.send_signal(signal.SIGHUP)

    return reload


BROKER_SYNC_KEY = "sohoa_broker_sync"


class AccountsSync(Protocol):
    """What the enrollment endpoints call after a change: BrokerSync, or broker.BrokerAccounts for an
    installed mosquitto."""

    def apply(self, db: Any) -> list[str]: ...


def attach_broker_sync(app: Any, sync: AccountsSync) -> None:
    """Let the enrollment endpoints update the broker when stations are enrolled or revoked."""
    app.extensions[BROKER_SYNC_KEY] = sync


def revoke(context: Any, station_id: str, *, broker: AccountsSync | None = None) -> bool:
    """Refuse the station on the API (next request) and, when a broker is attached, on MQTT (now)."""
    if not context.db.revoke_station(station_id):
        return False
    log.info("station %s revoked", station_id)
    if broker is not None:
        broker.apply(context.db)
    return True
