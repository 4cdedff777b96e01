"""Supervisor and admin accounts for the server's web UI: scrypt password hashes, session login, CSRF tokens,
login rate limiting (sohoa.limits) and role checks.

Accounts live in their own table (`web_users`) of the server's records (server/records/db.py: SQLite `server.db`,
or the PostgreSQL database several servers share), so one account works at every server and disabling it
refuses it everywhere at the next request. Every endpoint of the web blueprint requires a logged-in supervisor
unless it is marked `public`; `require_role("admin")` raises the bar. Station endpoints (the sync API) use
station tokens instead and are not touched here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from protocol.clock import iso_vn
from protocol.errors import UserError
from protocol.i18n import N_
from server.databases import open_server_db
from server.records.db import Records

ROLES = ("supervisor", "archivist", "admin")  # an admin can do what each of the others can
NAME_RE = re.compile(r"[a-z0-9._-]{2,64}")
MIN_PASSWORD = 8
# scrypt cost: ~50 ms and 16 MiB on a Raspberry Pi 4 class CPU, enough to slow a stolen-hash attack
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1

F = TypeVar("F", bound=Callable[..., Any])


class AuthError(UserError, ValueError):
    """A refused account operation; `.text(lang)` is shown to the supervisor."""


# ---------------------------------------------------------------------------------------------- hashing


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash` (base64), salted per password."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return "$".join(
        [
            "scrypt",
            str(SCRYPT_N),
            str(SCRYPT_R),
            str(SCRYPT_P),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(base64.b64decode(digest)),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


# A hash to compare against when the user does not exist, so timing does not tell which names exist.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


# --------------------------------------------------------------------------------------------- accounts


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def can(self, role: str) -> bool:
        # Supervisor (production floor) and archivist (the stored archive) are separate duties.
        return self.role in (role, "admin")


@contextmanager
def _records(db: Records | str | Path) -> Iterator[Records]:
    """The records object itself, or one opened (and closed after) from a SQLite path or PostgreSQL URL."""
    if isinstance(db, Records):
        yield db
        return
    opened = open_server_db(db)
    try:
        yield opened
    finally:
        opened.close()


def _name(name: str | None) -> str:
    return (name or "").strip().lower()


def create_user(db: Records | str | Path, name: str, password: str, role: str = "supervisor") -> User:
    """Create a web account, or reset the password and role of an existing one (CLI and demo entry point)."""
    name = _name(name)
    if not NAME_RE.fullmatch(name):
        raise AuthError(
            N_("user name: 2-64 characters a-z 0-9 . _ -"),
        )
    if role not in ROLES:
        raise AuthError(N_("role must be one of %(roles)s"), roles=', '.join(ROLES))
    if len(password or "") < MIN_PASSWORD:
        raise AuthError(N_("password: at least %(min_password)s characters"), min_password=MIN_PASSWORD)
    with _records(db) as records, records.tx() as conn:
        conn.execute(
            "INSERT INTO web_users (name, password_hash, role, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role,"
            " disabled = 0",
            (name, hash_password(password), role, iso_vn()),
        )
    end_user_sessions(db, name)  # a reset password ends the sessions opened with the old one
    return User(name, role)


def disable_user(db: Records | str | Path, name: str) -> bool:
    """Refuse this account from its next request on, at every server sharing the records (sessions
    re-check the account every request)."""
    with _records(db) as records, records.tx() as conn:
        found = conn.execute("UPDATE web_users SET disabled = 1 WHERE name = ?", (_name(name),)).rowcount == 1
    end_user_sessions(db, name)
    return found


def list_users(db: Records | str | Path) -> list[dict[str, Any]]:
    with _records(db) as records:
        return records.query("SELECT name, role, disabled, created_at, last_login FROM web_users ORDER BY name")


def active_user(db: Records | str | Path, name: str) -> User | None:
    with _records(db) as records:
        row = records.one("SELECT role FROM web_users WHERE name = ? AND disabled = 0", (_name(name),))
    return User(_name(name), row["role"]) if row and row["role"] in ROLES else None


def verify_login(db: Records | str | Path, name: str, password: str) -> User | None:
    """The user when name and password match an active account, else None (same cost either way)."""
    name = _name(name)
    with _records(db) as records:
        row = records.one("SELECT password_hash, role, disabled FROM web_users WHERE name = ?", (name,))
        ok = check_password(password, row["password_hash"] if row else _DUMMY_HASH)
        if not (ok and row and not row["disabled"] and row["role"] in ROLES):
            return None
        with records.tx() as conn:
            conn.execute("UPDATE web_users SET last_login = ? WHERE name = ?", (iso_vn(), name))
    return User(name, row["role"])


# ----------------------------------------------------------------------------------------- rate limiting
# Failed logins: sohoa.limits.AttemptLimiter (per account and address, with backoff), shared with the station.


# ----------------------------------------------------------------------------------- sessions and CSRF

SECRET_BYTES = 32


def load_or_create_secret(path: Path) -> bytes:
    """The Flask session key: 32 random bytes made once, file mode 0600 (sessions survive restarts).

    Several servers may name one file on shared storage and start together: the key is written whole to a
    temporary file, fsynced, then hard-linked into place, which fails if another server got there first;
    the loser reads the winner's key. Nobody ever reads a half-written key."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(SECRET_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another server made it first: use theirs
            else:
                _fsync_dir(path.parent)
        finally:
            tmp.unlink(missing_ok=True)
    secret = path.read_bytes()
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"session key {path}: {len(secret)} bytes, expected {SECRET_BYTES} (damaged: delete it)")
    return secret


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def csrf_token(session: Any) -> str:
    """The session's CSRF token, made on first use; forms carry it as `csrf_token`, fetch() as X-CSRF-Token."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def csrf_ok(session: Any, sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent and hmac.compare_digest(expected, sent))


def public(view: F) -> F:
    """Mark a web endpoint as reachable without login (the login page itself)."""
    view._sohoa_public = True  # type: ignore[attr-defined]  # a mark on the function, read at each request
    return view


def require_role(role: str) -> Callable[[F], F]:
    """Raise the role an endpoint needs above the default (supervisor)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def mark(view: F) -> F:
        view._sohoa_role = role  # type: ignore[attr-defined]  # a mark on the function, read at each request
        return view

    return mark


def endpoint_role(view: Callable[..., Any] | None) -> str | None:
    """The role a view needs: None for public views, 'supervisor' unless marked otherwise."""
    if view is None or getattr(view, "_sohoa_public", False):
        return None
    return getattr(view, "_sohoa_role", "supervisor")


# ------------------------------------------------------------------------------- server-side sessions

SEEN_EVERY_S = 30  # `seen` is written at most this often per session: a page load is not a database write


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def open_session(db: Records | str | Path, name: str) -> str:
    """A new session for `name`: its id goes into the signed cookie, only its hash into the records."""
    sid = secrets.token_urlsafe(32)
    now = time.time()
    with _records(db) as records:
        with records.tx() as conn:
            conn.execute("INSERT INTO web_sessions (sid_hash, name, created, seen) VALUES (?, ?, ?, ?)",
                         (_sid_hash(sid), _name(name), now, now))
    return sid


def session_user(db: Records | str | Path, sid: str | None, *, idle_s: float, max_s: float) -> str | None:
    """The account behind a live session, else None (unknown, ended at logout, idle or too old: removed)."""
    if not sid or not isinstance(sid, str):
        return None
    now = time.time()
    with _records(db) as records:
        row = records.one("SELECT name, created, seen FROM web_sessions WHERE sid_hash = ?", (_sid_hash(sid),))
        if row is None:
            return None
        if now - row["seen"] > idle_s or now - row["created"] > max_s:
            end_session(records, sid)
            return None
        if now - row["seen"] > SEEN_EVERY_S:
            with records.tx() as conn:
                conn.execute("UPDATE web_sessions SET seen = ? WHERE sid_hash = ?", (now, _sid_hash(sid)))
    return row["name"]


def end_session(db: Records | str | Path, sid: str | None) -> None:
    if not sid:
        return
    with _records(db) as records:
        with records.tx() as conn:
            conn.execute("DELETE FROM web_sessions WHERE sid_hash = ?", (_sid_hash(sid),))


def end_user_sessions(db: Records | str | Path, name: str) -> None:
    """Every session of an account (disabled, or its password changed) ends at once, at every server."""
    with _records(db) as records:
        with records.tx() as conn:
            conn.execute("DELETE FROM web_sessions WHERE name = ?", (_name(name),))
