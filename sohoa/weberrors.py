"""The one place both web apps (station, server) answer errors (the tree is protocol.errors): a UserError with
its own status, key and messages; anything else is a bug, logged with its traceback and answered 500 with an
incident id that shows nothing internal. No broad ValueError/KeyError handler: a typo in a dictionary key must
not become a quiet 404. Endpoints read fields with protocol.inputs getters and never catch parsing errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue

from protocol.errors import UserError, incident_id
from protocol.inputs import loads

log = logging.getLogger("sohoa.web")
Answer = Callable[..., Any]  # (status, error key, English message, Vietnamese message, **extra JSON fields)


class SafeJSONProvider(DefaultJSONProvider):
    """Request JSON through protocol.inputs.loads: too deep or too big is a ValueError, so Flask's get_json
    answers 400 (or None with silent=True) instead of a RecursionError reaching the top."""

    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s, **kwargs)


def install(app: Flask, answer: Answer) -> None:
    app.json_provider_class = SafeJSONProvider
    app.json = SafeJSONProvider(app)

    @app.errorhandler(UserError)
    def user_error(exc: UserError) -> ResponseReturnValue:  # noqa: ANN202
        return answer(exc.status, exc.key, exc.message, exc.message_vi, **exc.details())

    @app.errorhandler(RecursionError)
    def too_deep(exc: RecursionError) -> ResponseReturnValue:  # noqa: ANN202
        return answer(400, "bad_request", "input nested too deeply", "Dữ liệu gửi lên lồng nhau quá sâu.")

    @app.errorhandler(OverflowError)
    def too_big(exc: OverflowError) -> ResponseReturnValue:  # noqa: ANN202 - e.g. a page id past SQLite's 64-bit integers
        return answer(400, "bad_request", "number out of range", "Số gửi lên vượt quá giới hạn.")

    @app.errorhandler(UnicodeError)
    def bad_text(exc: UnicodeError) -> ResponseReturnValue:  # noqa: ANN202
        return answer(400, "bad_request", "text is not valid UTF-8", "Dữ liệu gửi lên không phải UTF-8 hợp lệ.")


def internal(answer: Answer, exc: BaseException) -> Any:
    """A 500 with an incident number to quote; the exception itself goes to the log only."""
    incident = incident_id()
    log.error("unexpected error (incident %s)", incident, exc_info=exc)
    return answer(500, "internal", f"internal error (incident {incident}); the operation was not done",
                  f"Có lỗi trong hệ thống (mã sự cố {incident}); thao tác chưa được thực hiện. "
                  "Hãy thử lại hoặc báo quản trị viên.")
