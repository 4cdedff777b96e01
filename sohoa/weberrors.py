"""The one place both web apps (station, server) answer errors (the tree is protocol.errors): a UserError with
its own status, key and message (English in "message", the request's language in "text"); anything else is a
bug, logged with its traceback and answered 500 with an incident id that shows nothing internal. No broad
ValueError/KeyError handler: a typo in a dictionary key must not become a quiet 404. Endpoints read fields
with protocol.inputs getters and never catch parsing errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue

from protocol.errors import Message, UserError, incident_id, with_texts
from protocol.i18n import DEFAULT, LANGS, N_, translate
from protocol.inputs import loads

log = logging.getLogger("sohoa.web")
Answer = Callable[..., Any]  # (status, error key, English message, message in the request's language, **extra)


def lang() -> str:
    """The request's language, by the one rule of both apps (sohoa.webi18n: Flask-Babel, the `lang` cookie)."""
    from flask import current_app

    if "babel" not in current_app.extensions:  # an app without the language rule (a bare test app)
        return DEFAULT
    from sohoa.webi18n import current

    chosen = current()
    return chosen if chosen in LANGS else DEFAULT


def refuse(status: int, key: str, message: str | Message, **extra: Any) -> Any:
    """A JSON refusal answered rather than raised (endpoints outside /api/ that the UI calls with fetch):
    `message` a msgid or a Message (protocol.errors.say); English in "message", the request's language in "text"."""
    from flask import jsonify

    said = message if isinstance(message, Message) else Message(message)
    return jsonify({"error": key, "message": said.message, "text": said.text(lang()), **extra}), status


def said(status: int, key: str, msgid: str, answer: Answer, **params: Any) -> Any:
    """Answer a message by key that is not a raised UserError."""
    return answer(status, key, translate(msgid, "en", **params), translate(msgid, lang(), **params))


class SafeJSONProvider(DefaultJSONProvider):
    """Request JSON through protocol.inputs.loads: too deep or too big is a ValueError, so Flask's get_json
    answers 400 (or None with silent=True) instead of a RecursionError reaching the top."""

    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s, **kwargs)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Every message by key in an answer gets its "text" in the request's language (protocol.errors)."""
        from flask import has_request_context

        return super().dumps(with_texts(obj, lang()) if has_request_context() else obj, **kwargs)


def install(app: Flask, answer: Answer) -> None:
    app.json_provider_class = SafeJSONProvider
    app.json = SafeJSONProvider(app)

    @app.errorhandler(UserError)
    def user_error(exc: UserError) -> ResponseReturnValue:  # noqa: ANN202
        return answer(exc.status, exc.key, exc.message, exc.text(lang()), **exc.details(lang()))

    @app.errorhandler(RecursionError)
    def too_deep(exc: RecursionError) -> ResponseReturnValue:  # noqa: ANN202
        return said(400, "bad_request", N_("The data sent is nested too deeply."), answer)

    @app.errorhandler(OverflowError)
    def too_big(exc: OverflowError) -> ResponseReturnValue:  # noqa: ANN202 - e.g. a page id past SQLite's 64-bit integers
        return said(400, "bad_request", N_("A number sent is out of range."), answer)

    @app.errorhandler(UnicodeError)
    def bad_text(exc: UnicodeError) -> ResponseReturnValue:  # noqa: ANN202
        return said(400, "bad_request", N_("The data sent is not valid UTF-8."), answer)


def internal(answer: Answer, exc: BaseException) -> Any:
    """A 500 with an incident number to quote; the exception itself goes to the log only."""
    incident = incident_id()
    log.error("unexpected error (incident %s)", incident, exc_info=exc)
    return said(500, "internal", N_("Internal error (incident %(incident)s); the operation was not done. "
                                    "Try again or tell the administrator."), answer, incident=incident)
