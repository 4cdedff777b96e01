"""Broker account passwords as mosquitto keeps them (`$7$`): the records (server.db) store only these hashes
and the broker bridge (server.mqtt.broker) renders them; both import this, neither imports the other."""

from __future__ import annotations

import base64
import hashlib
import secrets


def hash_password(password: str, *, iterations: int = 101) -> str:
    """Mosquitto 2.0's `$7$` format (PBKDF2-SHA512), the same as `mosquitto_passwd -b` writes.

    Hashing here rather than calling mosquitto_passwd once per account keeps 100 stations instant.
    """
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a `$7$` hash (for tests and checks; mosquitto does its own)."""
    import hmac

    try:
        _, _, iterations, salt, digest = stored.split("$")
        got = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(base64.b64encode(got).decode(), digest)


def is_password_hash(value: str) -> bool:
    """A `$7$` hash as hash_password writes it (what server.db keeps), not a password."""
    parts = value.split("$")
    return len(parts) == 5 and parts[0] == "" and parts[1] == "7" and parts[2].isdigit()
