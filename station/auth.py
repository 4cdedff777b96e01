"""Operator accounts, PINs and sessions on the station.

Accounts are managed on the archive server and cached here (table `operators`) so that a station keeps
working offline; `cache_accounts` takes the server's list. PINs are short, so each one is hashed with
scrypt (memory-hard) and a login is refused for a while after a few wrong PINs. Sessions live in the
station database (table `sessions`): a reload, a browser crash or a station restart keeps the operator
logged in, and a session that was idle too long is locked until its operator enters the PIN again.
Session tokens are stored only as SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.errors import UserError
from protocol.i18n import N_
from protocol.ids import is_operator_code
from protocol.pins import SCRYPT, hash_pin, verify_pin  # noqa: F401 - one format with the server
from station.store import Store

log = logging.getLogger("sohoa.station.auth")

ROLES = ("operator", "supervisor", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}

IDLE_LOCK_S = 600.0
VERIFIER = "k1"  # keyed PIN verifier: HMAC(station key, scrypt(PIN, salt))


class Offline(Exception):
    """The archive cannot check a PIN right now (unreachable): the station's own verifier decides."""


def pin_key(path: Path) -> bytes:
    """The station's secret for PIN verifiers (32 random bytes, 0600), made on first use."""
    from protocol.durable import write_atomic

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, secrets.token_bytes(32), mode=0o600)
    return path.read_bytes()


def make_verifier(pin: str, key: bytes) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, dklen=32, **SCRYPT)
    return f"{VERIFIER}${salt.hex()}${hmac.new(key, digest, hashlib.sha256).hexdigest()}"


def check_verifier(pin: str, stored: str, key: bytes) -> bool:
    """A keyed verifier (k1$...) or a station-local account's plain scrypt hash."""
    if stored.startswith(VERIFIER + "$"):
        try:
            _, salt, mac = stored.split("$")
            digest = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), dklen=32, **SCRYPT)
        except ValueError:
            return False
        return hmac.compare_digest(hmac.new(key, digest, hashlib.sha256).hexdigest(), mac)
    return verify_pin(pin, stored)

TABLES = (
    """CREATE TABLE IF NOT EXISTS operators (
      code TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      role TEXT NOT NULL,
      pin_hash TEXT NOT NULL,
      active INTEGER NOT NULL DEFAULT 1,
      failures INTEGER NOT NULL DEFAULT 0,
      locked_until REAL NOT NULL DEFAULT 0,
      source TEXT NOT NULL DEFAULT 'station',
      updated_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sessions (
      token_sha256 TEXT PRIMARY KEY,
      operator TEXT NOT NULL REFERENCES operators(code),
      csrf TEXT NOT NULL,
      created_at REAL NOT NULL,
      last_seen REAL NOT NULL,
      locked INTEGER NOT NULL DEFAULT 0)""",
)


class AuthError(UserError):
    """Login refused, session missing/locked, or a role too low. `code` (= `key`) is stable for the UI."""

    STATUS = {"bad_login": 401, "login_blocked": 429, "no_session": 401, "locked": 401, "forbidden": 403,
              "bad_request": 400, "csrf": 403}

    def __init__(self, code: str, message: str | None = None, **params: Any):
        super().__init__(message, key=code, status=self.STATUS.get(code, 401), **params)
        self.code = code


@dataclass(frozen=True)
class Session:
    operator: str
    name: str
    role: str
    csrf: str
    token: str = ""  # only set right after login; never read back from the database

    def can(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]

    def to_dict(self) -> dict[str, Any]:
        return {"operator": self.operator, "name": self.name, "role": self.role, "csrf": self.csrf}


def check_pin(pin: str) -> None:
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise AuthError("bad_request", N_("PIN must be 4 to 12 digits"))


def _token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Operator accounts and sessions in the station database. Every change is audited."""

    def __init__(self, store: Store, *, idle_lock_s: float = IDLE_LOCK_S, clock: Any = time.time,
                 online: Callable[[str, str], dict | None] | None = None, key_path: Path | None = None):
        """`online(code, pin)`: the archive's answer for a server-managed account (the account, None when
        refused, Offline when it cannot answer). `key_path`: the station secret that keys PIN verifiers."""
        from sohoa.limits import AttemptLimiter

        self.store = store
        self.idle_lock_s = idle_lock_s
        self.clock = clock
        self.online = online
        self.key_path = key_path or Path(store.path).parent / "keys" / "pin-verifier.key"
        self.limiter = AttemptLimiter()
        with store.tx() as conn:
            for sql in TABLES:
                conn.execute(sql)

    # -- accounts ------------------------------------------------------------------------------
    def add(self, *, code: str, name: str, role: str, pin: str, actor: str) -> None:
        """Create or replace a station-local account (first set-up, or an admin on the station)."""
        code = code.strip()
        if not is_operator_code(code):
            raise AuthError("bad_request", N_("invalid operator code '%(value)s': use 1-32 characters A-Z, a-z, 0-9, "
                                          "'.', '_' or '-', starting with a letter or digit"), value=code)
        if role not in ROLES:
            raise AuthError("bad_request", N_("unknown role '%(role)s'"), role=role)
        check_pin(pin)
        with self.store.tx() as conn:
            conn.execute(
                "INSERT INTO operators (code, name, role, pin_hash, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(code) DO UPDATE SET name = excluded.name, role = excluded.role,"
                " pin_hash = excluded.pin_hash, active = 1, failures = 0, locked_until = 0,"
                " updated_at = excluded.updated_at",
                (code, name.strip() or code, role, hash_pin(pin), self.clock()))
            self.store._audit(conn, actor, "account.set", None, operator=code, role=role)

    def cache_accounts(self, accounts: list[dict[str, Any]], *, actor: str = "sync") -> int:
        """Replace the server-managed accounts with the server's list ({code, name, role, active}). No PIN data
        comes with it: a verifier is kept only for operators who logged in here (login); a row new here has
        none, and an account taken over from a station-local one loses its local PIN."""
        with self.store.tx() as conn:
            conn.execute("UPDATE operators SET active = 0 WHERE source = 'server'")
            for acc in accounts:
                if acc.get("role") not in ROLES or not is_operator_code(acc.get("code")):
                    log.warning("server account %r skipped: bad code or role", acc.get("code"))
                    continue  # one bad record never stops the others
                conn.execute(
                    "INSERT INTO operators (code, name, role, pin_hash, active, source, updated_at)"
                    " VALUES (?, ?, ?, '', ?, 'server', ?) ON CONFLICT(code) DO UPDATE SET name = excluded.name,"
                    " role = excluded.role, active = excluded.active, updated_at = excluded.updated_at,"
                    " pin_hash = CASE WHEN operators.source = 'server' THEN operators.pin_hash ELSE '' END,"
                    " source = 'server'",
                    (acc["code"], acc.get("name") or acc["code"], acc["role"], int(acc.get("active", True)),
                     self.clock()))
            conn.execute("DELETE FROM sessions WHERE operator IN (SELECT code FROM operators WHERE active = 0)")
            self.store._audit(conn, actor, "account.cache", None, count=len(accounts))
        return len(accounts)

    def list(self) -> list[dict[str, Any]]:
        return self.store.query("SELECT code, name, role FROM operators WHERE active = 1 ORDER BY name, code")

    def count(self) -> int:
        row = self.store.one("SELECT COUNT(*) AS n FROM operators WHERE active = 1")
        return int(row["n"]) if row else 0

    # -- sessions ------------------------------------------------------------------------------
    def _checked(self, code: str, pin: str) -> dict[str, Any] | None:
        """The operator row if `pin` is right, else None. A server-managed account is checked by the archive
        while online (and its verifier here renewed); offline, by the verifier this station keeps for it."""
        row = self.store.one("SELECT * FROM operators WHERE code = ? AND active = 1", (code,))
        key = pin_key(self.key_path)
        if self.online is not None and (row is None or row["source"] == "server"):
            account: dict[str, Any] | bool | None
            try:
                account = self.online(code, pin)
            except Offline:
                account = False
            if account is None:
                return None
            if isinstance(account, dict) and account:
                self._remember(account, make_verifier(pin, key))
                return self.store.one("SELECT * FROM operators WHERE code = ?", (account["code"],))
            if row is not None and not row["pin_hash"]:
                raise AuthError("offline_first_login", N_("the archive is unreachable and this operator has never "
                                                          "logged in at this station"))
        if row is None or not row["pin_hash"]:
            check_verifier(pin, make_verifier("0000", key), key)  # same work: a wrong code costs a wrong PIN's time
            return None
        return row if check_verifier(pin, row["pin_hash"], key) else None

    def _remember(self, account: dict[str, Any], verifier: str) -> None:
        """An archive-managed account that just logged in here: its details and this station's verifier."""
        if account.get("role") not in ROLES or not is_operator_code(account.get("code")):
            return
        with self.store.tx() as conn:
            conn.execute(
                "INSERT INTO operators (code, name, role, pin_hash, active, source, updated_at)"
                " VALUES (?, ?, ?, ?, 1, 'server', ?) ON CONFLICT(code) DO UPDATE SET name = excluded.name,"
                " role = excluded.role, pin_hash = excluded.pin_hash, active = 1, source = 'server',"
                " updated_at = excluded.updated_at",
                (account["code"], account.get("name") or account["code"], account["role"], verifier, self.clock()))

    def login(self, code: str, pin: str, *, address: str = "local") -> Session:
        """Counted per operator and client address (sohoa.limits): a stranger at another terminal cannot lock
        the operator out, and each wrong PIN past five doubles the wait."""
        now = self.clock()
        row = self.verify(code, pin, address=address)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        with self.store.tx() as conn:
            conn.execute("INSERT INTO sessions (token_sha256, operator, csrf, created_at, last_seen)"
                         " VALUES (?, ?, ?, ?, ?)", (_token_key(token), row["code"], csrf, now, now))
            self.store._audit(conn, row["code"], "login", None, role=row["role"])
        return Session(row["code"], row["name"], row["role"], csrf, token)

    def verify(self, code: str, pin: str, *, address: str = "local") -> dict[str, Any]:
        """The account behind code + PIN (with the login's failure counting and lock-out), without a session:
        a supervisor's PIN typed on the operator's screen to allow one thing."""
        code = code.strip()
        wait = self.limiter.retry_after(code, address)
        if wait > 0:
            seconds = int(wait) + 1
            raise AuthError("login_blocked", N_("Too many wrong PINs. Wait %(seconds)s seconds and try again."),
                            seconds=seconds)
        row = self._checked(code, pin)
        if row is None:
            self.limiter.failed(code, address)
            self.store.audit(code[:32] or "?", "login.failed", address=address[:64])
            raise AuthError("bad_login", N_("wrong operator code or PIN"))
        self.limiter.succeeded(code, address)
        if row["failures"] or row["locked_until"]:
            with self.store.tx() as conn:
                conn.execute("UPDATE operators SET failures = 0, locked_until = 0 WHERE code = ?", (row["code"],))
        return dict(row)

    def session(self, token: str, *, touch: bool = True) -> Session:
        """The session behind `token`; locks it (and raises) when it was idle too long."""
        if not token:
            raise AuthError("no_session", N_("not logged in"))
        key = _token_key(token)
        row = self.store.one(
            "SELECT s.*, o.name, o.role FROM sessions s JOIN operators o ON o.code = s.operator"
            " WHERE s.token_sha256 = ? AND o.active = 1", (key,))
        if row is None:
            raise AuthError("no_session", N_("not logged in"))
        now = self.clock()
        if row["locked"] or now - row["last_seen"] > self.idle_lock_s:
            if not row["locked"]:
                with self.store.tx() as conn:
                    conn.execute("UPDATE sessions SET locked = 1 WHERE token_sha256 = ?", (key,))
                    self.store._audit(conn, row["operator"], "session.locked", None, idle_s=int(now - row["last_seen"]))
            raise AuthError("locked", N_("session locked after inactivity: enter the PIN again"))
        if touch and now - row["last_seen"] > 1:
            with self.store.tx() as conn:
                conn.execute("UPDATE sessions SET last_seen = ? WHERE token_sha256 = ?", (now, key))
        return Session(row["operator"], row["name"], row["role"], row["csrf"])

    def locked_operator(self, token: str) -> dict[str, Any] | None:
        """Who a locked session belongs to (for the lock screen), or None."""
        row = self.store.one("SELECT s.operator, o.name FROM sessions s JOIN operators o ON o.code = s.operator"
                             " WHERE s.token_sha256 = ?", (_token_key(token or ""),))
        return row

    def unlock(self, token: str, pin: str) -> Session:
        row = self.store.one("SELECT operator FROM sessions WHERE token_sha256 = ?", (_token_key(token or ""),))
        if row is None:
            raise AuthError("no_session", N_("not logged in"))
        fresh = self.login(row["operator"], pin)  # same PIN checks and failure counting as a login
        with self.store.tx() as conn:  # keep the old token (the browser's cookie), drop the new one
            conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", (_token_key(fresh.token),))
            conn.execute("UPDATE sessions SET locked = 0, last_seen = ? WHERE token_sha256 = ?",
                         (self.clock(), _token_key(token)))
            self.store._audit(conn, row["operator"], "session.unlocked", None)
        return self.session(token)

    def lock(self, token: str) -> None:
        with self.store.tx() as conn:
            conn.execute("UPDATE sessions SET locked = 1 WHERE token_sha256 = ?", (_token_key(token or ""),))

    def logout(self, token: str) -> None:
        key = _token_key(token or "")
        with self.store.tx() as conn:
            row = conn.execute("SELECT operator FROM sessions WHERE token_sha256 = ?", (key,)).fetchone()
            conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", (key,))
            if row:
                self.store._audit(conn, row["operator"], "logout", None)


def main(argv: list[str] | None = None) -> int:
    """`python -m station.auth --db station.db add CODE --name N --role admin` (PIN read from stdin)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m station.auth", description="station operator accounts")
    parser.add_argument("--db", required=True, help="the station database (data_dir/station.db)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add", help="create or reset an account; the PIN is read from stdin")
    add.add_argument("code")
    add.add_argument("--name", default="")
    add.add_argument("--role", choices=ROLES, default="operator")
    sub.add_parser("list")
    args = parser.parse_args(argv)
    accounts = Accounts(Store(args.db))
    if args.cmd == "add":
        pin = sys.stdin.readline().strip()
        try:
            accounts.add(code=args.code, name=args.name, role=args.role, pin=pin, actor="cli")
        except AuthError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
    else:
        for acc in accounts.list():
            print(f"{acc['code']}\t{acc['role']}\t{acc['name']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
