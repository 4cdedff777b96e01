"""Security headers both web UIs (station and server) send on every answer."""

from __future__ import annotations

from typing import Any, Protocol

# No inline script (the pages' scripts are files under /static; JSON data blocks are not scripts); inline
# style attributes are allowed. Nothing may frame the pages (clickjacking) or load from another origin.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",  # for browsers older than frame-ancestors
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class _Headers(Protocol):
    def setdefault(self, key: str, default: str) -> Any: ...


def add_security_headers(headers: _Headers, *, https: bool = False) -> None:
    """Set the headers on one answer (an endpoint's own value wins). `https`: the request came over TLS."""
    for name, value in HEADERS.items():
        headers.setdefault(name, value)
    if https:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
