"""The one exception tree: an error the user can fix, or a bug.

A `UserError` is something the person at the screen or the command line can put right (a bad field, a wrong
state, a refused PIN, a configuration key). It carries what each front end needs: the HTTP `status`, the
process `exit_code`, a stable `key` (the API's "error" field, and the message key when messages move to the
catalogues), the English `message` (logs, APIs) and the Vietnamese `message_vi` (operator and archivist UI).
The web apps answer it in one handler (sohoa.weberrors) and the command line in one place (sohoa.cli.main).

Everything else is a bug: logged with its traceback and an incident id, answered 500 (web) or exit 70 (CLI).
So never catch a broad ValueError or KeyError to turn it into 400/404: raise the UserError that says what
is wrong instead.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Exit codes of `sohoa ...`; stable (scripts and systemd units rely on them; README lists them)."""

    OK = 0
    FAILED = 1  # the command ran and its answer is "no": a check, verify or audit found problems
    USAGE = 2  # refused: bad arguments or a request the rules do not allow; the message says what to fix
    SCAN_FAULT = 3  # `sohoa scan`: the scanner stopped (jam, no paper, cover open); the pages so far are kept
    SOFTWARE = 70  # a bug (BSD EX_SOFTWARE): the traceback is in the log under the incident id
    CONFIG = 78  # the configuration cannot be used (BSD EX_CONFIG): file, key and what is expected
    INTERRUPTED = 130  # Ctrl-C


class UserError(Exception):
    """A failure the user can fix. Subclasses set the class defaults; an instance may override them."""

    status: int = 400
    exit_code: ExitCode = ExitCode.USAGE
    key: str = "bad_request"
    message_vi: str = "Yêu cầu không hợp lệ."

    def __init__(self, message: str, message_vi: str | None = None, *, key: str | None = None,
                 status: int | None = None, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if message_vi is not None:
            self.message_vi = message_vi
        if key is not None:
            self.key = key
        if status is not None:
            self.status = status
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:  # KeyError's quoting and tuple args never reach a message
        return self.message

    def details(self) -> dict[str, Any]:
        """Extra JSON fields of the web answer (e.g. the list of problems in a form)."""
        return {}


class NotFound(UserError, KeyError):
    """A batch, page, folder or document that does not exist (404). Still a KeyError for old callers."""

    status = 404
    key = "not_found"
    message_vi = "Không tìm thấy."


class Conflict(UserError):
    """A request the current state does not allow (409)."""

    status = 409
    key = "wrong_state"
    message_vi = "Hồ sơ đang ở trạng thái không cho phép thao tác này."


class Forbidden(UserError):
    """The signed-in user's role does not allow this (403)."""

    status = 403
    key = "forbidden"
    message_vi = "Bạn không có quyền thực hiện thao tác này."


class CommandError(UserError):
    """A refused command line: one line on stderr, then exit 2."""


def incident_id() -> str:
    """A short id the user quotes and the log carries next to the traceback."""
    import secrets

    return secrets.token_hex(4)
