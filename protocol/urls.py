"""Where a login or language switch may send the browser next: only a path on the same origin."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` if it is a same-origin path, else `default`.

    Browsers read `\\` as `/` and drop tabs and newlines inside a URL, so `/\\evil.example` and `/\\t/evil.example`
    both become `//evil.example` (another host). Any of those characters, or a scheme or host, means `default`.
    """
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return default
    if any(c == "\\" or ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
