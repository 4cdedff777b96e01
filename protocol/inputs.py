"""Reading a request body safely: JSON that cannot blow the stack, and fields of the expected type.

Both web apps parse JSON through `loads` (their Flask JSON provider) and read fields with the getters below.
A wrong body raises `InputError` (a ValueError), which each app answers with 400 and the message: the
message names the field and what it should be, never anything internal. Pure: no Flask here.
"""

from __future__ import annotations

import json
from typing import Any, overload

from protocol.errors import UserError
from protocol.i18n import N_

MAX_DEPTH = 32  # deepest nesting any endpoint needs is 4; a 100,000-deep array is an attack
MAX_JSON = 2 * 1024 * 1024  # the largest JSON body any endpoint takes is a few kB (a document list)


class InputError(UserError, ValueError):
    """A request body or field that is not what the endpoint takes (answered with 400)."""

    key = "bad_request"


def _depth_ok(text: str | bytes, limit: int) -> bool:
    """Nesting of [ and { outside strings at most `limit` (a linear scan; bytes or str)."""
    depth, in_string, escaped = 0, False, False
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, **kw: Any) -> Any:
    """json.loads that refuses nesting deeper than `max_depth` with InputError instead of a RecursionError."""
    if len(text) > MAX_JSON:
        raise InputError(N_("JSON body larger than %(max)s bytes"), max=MAX_JSON)
    if (text.count("[") + text.count("{") > max_depth if isinstance(text, str)
            else text.count(b"[") + text.count(b"{") > max_depth) and not _depth_ok(text, max_depth):
        raise InputError(N_("JSON nested deeper than %(max)s levels"), max=max_depth)
    try:
        return json.loads(text, **kw)
    except RecursionError as exc:  # pragma: no cover - the depth check comes first
        raise InputError(N_("JSON nested too deeply")) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(N_("not valid JSON: %(error)s"),
                         error=exc.msg if hasattr(exc, "msg") else "bad encoding") from exc


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")


def get_dict(body: dict[str, Any], name: str, default: dict[str, Any] | None = None) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {} if default is None else default
    if not isinstance(value, dict):
        raise InputError(N_("%(name)s must be an object, not %(kind)s"), name=name, kind=_kind(value))
    return value


def get_list(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(N_("%(name)s must be a list, not %(kind)s"), name=name, kind=_kind(value))
    return value


@overload
def get_int(body: dict[str, Any], name: str, default: int, *, lo: int | None = None,
            hi: int | None = None) -> int: ...
@overload
def get_int(body: dict[str, Any], name: str, default: None = None, *, lo: int | None = None,
            hi: int | None = None) -> int | None: ...
def get_int(body: dict[str, Any], name: str, default: int | None = None, *, lo: int | None = None,
            hi: int | None = None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
            value = int(value)
        else:
            raise InputError(N_("%(name)s must be a whole number, not %(kind)s"), name=name, kind=_kind(value))
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InputError(N_("%(name)s must be between %(lo)s and %(hi)s"), name=name, lo=lo, hi=hi)
    return value


def get_float(body: dict[str, Any], name: str, default: float, *, lo: float, hi: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(N_("%(name)s must be a number, not %(kind)s"), name=name, kind=_kind(value))
    try:
        number = float(value)
    except ValueError as exc:
        raise InputError(N_("%(name)s must be a number"), name=name) from exc
    if not lo <= number <= hi:  # NaN fails too
        raise InputError(N_("%(name)s must be between %(lo)s and %(hi)s"), name=name, lo=lo, hi=hi)
    return number


def get_ints(body: dict[str, Any], name: str) -> list[int]:
    """A list of whole numbers (page ids)."""
    out = []
    for item in get_list(body, name):
        if isinstance(item, bool) or not isinstance(item, int):
            raise InputError(N_("%(name)s must be a list of whole numbers"), name=name)
        out.append(item)
    return out


def get_str(body: dict[str, Any], name: str, default: str = "", *, max_len: int = 1000) -> str:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InputError(N_("%(name)s must be a string, not %(kind)s"), name=name, kind=_kind(value))
    if len(value) > max_len or "\x00" in value:
        raise InputError(N_("%(name)s must be a string of at most %(max_len)s characters without NUL"),
                         name=name, max_len=max_len)
    return value
