"""Logging for the station and server services: the journal's native protocol under systemd, else text or JSON.

Under systemd the journal receives structured records (MESSAGE, PRIORITY, CODE_*, LOGGER and our domain
fields), so `journalctl -u sohoa-server STATION_ID=tram-01` finds one station's lines. The encoding follows
systemd's "Native Journal Protocol": one datagram of `NAME=value\\n` fields; a value with a newline goes as
`NAME\\n<64-bit little-endian length><value>\\n`; a record too big for a datagram goes in a sealed memfd
passed with SCM_RIGHTS. python-systemd is not needed for that.

Secrets (PINs, tokens, passwords) never reach a handler: SecretFilter redacts them first.
"""

from __future__ import annotations

import array
import errno
import json
import logging
import os
import re
import socket
import struct
import sys
import traceback
from collections.abc import Mapping
from typing import Any

JOURNAL_SOCKET = "/run/systemd/journal/socket"
FORMATS = ("auto", "text", "json", "journal")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: `extra=` keys we index in the journal, by record attribute.
DOMAIN_FIELDS = {
    "station_id": "STATION_ID",
    "batch": "BATCH",
    "file_code": "FILE_CODE",
    "package": "PACKAGE",
    "operator": "OPERATOR",
}

_SECRET_KEY = re.compile(
    r"(?:^|_)(?:pin|pins|token|tokens|passw\w*|pwd|secret|passphrase|credentials?|authorization|api_?key)(?:_|$)",
    re.IGNORECASE,
)
_WORDS = r"(?:pin|pins|token|tokens|password|passwd|pass|pwd|secret|passphrase|api[_-]?key)"
# `pin=1234`, `"token": "abc"`, `mqtt_password: x`, `Bearer abc` inside a message; the key word stands alone
# or joined by _ or - (`pkcs11_pin`), so `mapping=` or `shipping:` are left alone.
_SECRET_TEXT = re.compile(
    rf"""(?P<key>\b(?:\w*[_-])?{_WORDS}(?:[_-][\w-]*)?["']?\s*[:=]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|[^\s"',;}&]+)"""
    r"""|(?P<bearer>\bBearer\s+)(?P<bvalue>[^\s"',;]+)""",
    re.IGNORECASE,
)
REDACTED = "***"

_LEVELS = [(logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6)]


def priority(levelno: int) -> int:
    """syslog priority for a logging level (DEBUG → 7)."""
    for level, prio in _LEVELS:
        if levelno >= level:
            return prio
    return 7


def redact(text: str) -> str:
    """The text with every `secret-ish key = value` and bearer token replaced by ***."""

    def sub(m: re.Match[str]) -> str:
        if m.group("bearer"):
            return m.group("bearer") + REDACTED
        quote = m.group("value")[0] if m.group("value")[0] in "\"'" else ""
        return m.group("key") + quote + REDACTED + quote

    return _SECRET_TEXT.sub(sub, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET_KEY.search(str(k)) else _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, str):
        return redact(value)
    return value


class SecretFilter(logging.Filter):
    """Redacts secrets in the message, its arguments, the traceback and `extra=` fields; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we have rather than lose the record
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for key in list(vars(record)):
            if key in _STANDARD_ATTRS:
                continue
            value = getattr(record, key)
            setattr(record, key, REDACTED if _SECRET_KEY.search(key) else _redact_value(value))
        return True


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


# ---------------------------------------------------------------------------------------- journal encoding


def _field_name(key: str) -> str:
    # Journal field names: upper case, digits and underscores, not starting with an underscore or digit.
    name = re.sub(r"[^A-Z0-9_]", "_", key.upper()).lstrip("_0123456789")
    return name[:64] or "FIELD"


def encode_fields(fields: dict[str, Any]) -> bytes:
    """One journal entry in the native protocol's wire form."""
    out = bytearray()
    for key, value in fields.items():
        if value is None:
            continue
        name = _field_name(key).encode()
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
        if b"\n" in data:
            out += name + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name + b"=" + data + b"\n"
    return bytes(out)


def record_fields(record: logging.LogRecord, *, identifier: str, message: str) -> dict[str, Any]:
    """The journal fields of one (already filtered) record."""
    fields: dict[str, Any] = {
        "MESSAGE": message,
        "PRIORITY": priority(record.levelno),
        "SYSLOG_IDENTIFIER": identifier,
        "LOGGER": record.name,
        "CODE_FILE": record.pathname,
        "CODE_LINE": record.lineno,
        "CODE_FUNC": record.funcName,
        "THREAD_NAME": record.threadName,
    }
    for attr, name in DOMAIN_FIELDS.items():
        value = getattr(record, attr, None)
        if value is not None and value != "":
            fields[name] = value
    if record.exc_text:
        fields["EXCEPTION"] = record.exc_text
    return fields


class JournalHandler(logging.Handler):
    """Sends records to journald's native socket. A failure to send is reported by logging.Handler.handleError."""

    def __init__(self, *, identifier: str, path: str = JOURNAL_SOCKET, level: int = logging.NOTSET):
        super().__init__(level)
        self.identifier = identifier
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            self.send(encode_fields(record_fields(record, identifier=self.identifier, message=message)))
        except Exception:
            self.handleError(record)

    def send(self, payload: bytes) -> None:
        try:
            self.sock.sendto(payload, self.path)
        except OSError as exc:
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise
            self._send_memfd(payload)

    def _send_memfd(self, payload: bytes) -> None:
        # Too big for one datagram: journald accepts a sealed memfd holding the entry, sent with no payload.
        import fcntl

        fd = os.memfd_create("sohoa-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.write(fd, payload)
            fcntl.fcntl(
                fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
            )
            fds = array.array("i", [fd])
            self.sock.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)], 0, self.path)
        finally:
            os.close(fd)

    def close(self) -> None:
        self.sock.close()
        super().close()


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the domain fields, code location, exception."""

    def format(self, record: logging.LogRecord) -> str:
        item: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for attr in DOMAIN_FIELDS:
            value = getattr(record, attr, None)
            if value is not None and value != "":
                item[attr] = value
        item.update(file=record.pathname, line=record.lineno, func=record.funcName)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            item["exception"] = record.exc_text
        return json.dumps(item, ensure_ascii=False, default=str)


# ---------------------------------------------------------------------------------------------- set-up


class ContextFilter(logging.Filter):
    """Adds process-wide fields (e.g. the station's id) to records that did not set them via `extra=`."""

    def __init__(self, **fields: Any):
        super().__init__()
        self.fields = fields

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.fields.items():
            if value not in (None, "") and getattr(record, key, None) in (None, ""):
                setattr(record, key, value)
        return True


def set_context(**fields: Any) -> None:
    """Every record through the handler setup_logging installed gets these fields (station_id=...)."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "sohoa":
            for old in [f for f in handler.filters if isinstance(f, ContextFilter)]:
                handler.removeFilter(old)
            handler.filters.insert(0, ContextFilter(**fields))


def journal_available(
    env: Mapping[str, str] | None = None, *, stream: Any = None, socket_path: str = JOURNAL_SOCKET
) -> bool:
    """True when stderr is connected to the journal (systemd sets JOURNAL_STREAM=dev:inode) and its socket exists.

    Comparing the device and inode, as systemd documents, avoids taking over a stderr that was redirected
    by a child process of a service.
    """
    env = env if env is not None else os.environ
    value = env.get("JOURNAL_STREAM", "")
    if not value or not os.path.exists(socket_path):
        return False
    try:
        dev, ino = (int(x) for x in value.split(":"))
        st = os.fstat((stream or sys.stderr).fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def setup_logging(
    *, fmt: str = "auto", level: int = logging.INFO, identifier: str = "sohoa", socket_path: str = JOURNAL_SOCKET
) -> logging.Handler:
    """Install the root logger's handler for `fmt` (auto: the journal under systemd, else text on stderr)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = "journal" if journal_available(socket_path=socket_path) else "text"
    handler: logging.Handler
    if fmt == "journal":
        handler = JournalHandler(identifier=identifier, path=socket_path)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(SecretFilter())  # on the handler: records from every logger pass through it
    handler.set_name("sohoa")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "sohoa"]:  # ours from an earlier call only
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
