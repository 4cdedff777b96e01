"""The one exception tree: an error the user can fix, or a bug.

A `UserError` is something the person at the screen or the command line can put right (a bad field, a wrong
state, a refused PIN, a configuration key). It carries what each front end needs: the HTTP `status`, the
process `exit_code`, a stable `key` (the API's "error" field) and its message by key: an English msgid of the
one catalogue (protocol/translations), marked `N_()`, with `%(name)s` parameters. `.message` is the English text
(logs, APIs, the JSON "message" field); `.text(lang)` is the same message in the user's language (the JSON
"text" field, the screens). The web apps answer it in one handler (sohoa.weberrors), in the request's language;
the command line in one place (sohoa.cli.main), in English.

Messages that are not errors (a page's QC flags, a scanner fault, a check's reasons, a configuration problem)
travel as a `Message`: the same msgid and parameters, translated where they are shown.

Everything else is a bug: logged with its traceback and an incident id, answered 500 (web) or exit 70 (CLI).
So never catch a broad ValueError or KeyError to turn it into 400/404: raise the UserError that says what
is wrong instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from protocol.i18n import DEFAULT, LANGS, N_, catalogue, translate


class ExitCode(IntEnum):
    """Exit codes of `sohoa ...`; stable (scripts and systemd units rely on them; README lists them)."""

    OK = 0
    FAILED = 1  # the command ran and its answer is "no": a check, verify or audit found problems
    USAGE = 2  # refused: bad arguments or a request the rules do not allow; the message says what to fix
    SCAN_FAULT = 3  # `sohoa scan`: the scanner stopped (jam, no paper, cover open); the pages so far are kept
    SOFTWARE = 70  # a bug (BSD EX_SOFTWARE): the traceback is in the log under the incident id
    CONFIG = 78  # the configuration cannot be used (BSD EX_CONFIG): file, key and what is expected
    INTERRUPTED = 130  # Ctrl-C


@dataclass(frozen=True)
class Message:
    """A user-facing message by key: an English msgid (marked `N_()`) and its parameters, translated when shown.
    Stored and sent as {"msgid", "params"}; `message` is the English text for logs and APIs."""

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.text("en")

    def text(self, lang: str = DEFAULT) -> str:
        if not self.msgid:  # gettext("") is the catalogue's header
            return ""
        return translate(self.msgid, lang, **fill(self.params, lang))

    def as_dict(self) -> dict[str, Any]:
        """JSON for the wire and the database: the English text, and the key to show it in another language."""
        return {"message": self.message, "msgid": self.msgid, "params": _plain(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(data["msgid"], _rich(data.get("params") or {}))


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, Message):
            v = {"msgid": v.msgid, "params": _plain(v.params)}
        elif isinstance(v, Joined):
            v = {"join": [{"msgid": m.msgid, "params": _plain(m.params)} for m in v.parts], "sep": v.sep}
        elif isinstance(v, Label):
            v = {"label": dict(v.texts)}
        elif not isinstance(v, (str, int, float, bool, type(None))):
            v = str(v)  # an exception or a path: JSON keeps what the message shows
        out[k] = v
    return out


def with_texts(data: Any, lang: str | None) -> Any:
    """A copy of `data` (JSON-like) where every message by key ({"msgid", "params"}) also has its "text" in
    `lang`. Both web apps pass every JSON answer through it, so flags, faults, problems and check summaries
    reach the screen in the request's language. A dict written before messages went by key shows its
    English "message". With `lang` None, "texts" holds every language (data shared by viewers of both, such
    as the supervisors' live dashboard, which picks its own)."""
    if isinstance(data, list):
        return [with_texts(v, lang) for v in data]
    if not isinstance(data, dict) or "signature" in data:  # signed data goes out exactly as signed (a receipt)
        return data
    out = {k: with_texts(v, lang) for k, v in data.items()}
    if isinstance(data.get("msgid"), str) and data["msgid"] and lang is None:
        out["texts"] = {each: Message.from_dict(data).text(each) for each in LANGS}
    elif isinstance(data.get("msgid"), str) and data["msgid"] and "text" not in data:
        out["text"] = Message.from_dict(data).text(lang or DEFAULT)
    elif "code" in data and isinstance(data.get("message"), str) and "text" not in data and lang is not None:
        out["text"] = data["message"]
    return out


def _rich(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, dict) and "msgid" in v:
            v = Message.from_dict(v)
        elif isinstance(v, dict) and "join" in v:
            v = Joined([Message.from_dict(m) for m in v["join"]], v.get("sep", "; "))
        elif isinstance(v, dict) and "label" in v:
            v = Label(dict(v["label"]))
        out[k] = v
    return out


@dataclass(frozen=True)
class Joined:
    """Several messages shown as one parameter (e.g. every problem of a form), each translated."""

    parts: list[Message]
    sep: str = "; "

    def text(self, lang: str = DEFAULT) -> str:
        return self.sep.join(part.text(lang) for part in self.parts)


@dataclass(frozen=True)
class Label:
    """A name that comes with its own words per language from outside the code (a published schema's field
    titles): shown in the reader's language, English when it has none."""

    texts: dict[str, str]

    def text(self, lang: str = DEFAULT) -> str:
        return self.texts.get(lang) or self.texts.get("en", "")


def fill(params: dict[str, Any], lang: str) -> dict[str, Any]:
    """Parameters as shown in `lang`: a Message, Joined or Label parameter is translated too."""
    return {k: v.text(lang) if isinstance(v, (Message, Joined, Label)) else v for k, v in params.items()}


def say(msgid: str, **params: Any) -> Message:
    """`Message(msgid, params)`, written the way a raise site is: say(N_("no page %(page)s"), page=7)."""
    return Message(msgid, params)


def translated(msgid: str, lang: str) -> bool:
    """Whether the catalogue of `lang` has `msgid` (English always has it: it is the msgid). The compiled
    catalogue's table is read directly: a translation may equal its msgid ("METS %(where)s: ...")."""
    return lang == "en" or msgid in getattr(catalogue(lang), "_catalog", {})


class UserError(Exception):
    """A failure the user can fix. Subclasses set the class defaults; an instance may override them.

    `UserError(N_("batch %(batch)s is sealed"), batch=7)`. With no message, the class's `default` is the message.
    A message not translated yet shows the class's `default` in that language (never English on a Vietnamese
    screen); tests/i18n keeps every message of the code in the catalogue."""

    status: int = 400
    exit_code: ExitCode = ExitCode.USAGE
    key: str = "bad_request"
    default: str = N_("The request is not valid.")

    def __init__(self, message: str | None = None, *, key: str | None = None, status: int | None = None,
                 exit_code: ExitCode | None = None, **params: Any) -> None:
        self.msgid = self.default if message is None else message
        self.params = params
        self.message = translate(self.msgid, "en", **fill(params, "en"))
        super().__init__(self.message)
        if key is not None:
            self.key = key
        if status is not None:
            self.status = status
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:  # KeyError's quoting and tuple args never reach a message
        return self.message

    @property
    def said(self) -> Message:
        """The message by key, to store or send (a fault, a last error) and show later in any language."""
        return Message(self.msgid, self.params)

    def text(self, lang: str = DEFAULT) -> str:
        """The message in `lang` (the web answer's "text", the screens)."""
        if translated(self.msgid, lang):
            return translate(self.msgid, lang, **fill(self.params, lang))
        return translate(self.default, lang)

    def details(self, lang: str = DEFAULT) -> dict[str, Any]:
        """Extra JSON fields of the web answer (e.g. the list of problems in a form)."""
        return {}


class NotFound(UserError, KeyError):
    """A batch, page, folder or document that does not exist (404). Still a KeyError for old callers."""

    status = 404
    key = "not_found"
    default = N_("Not found.")


class Conflict(UserError):
    """A request the current state does not allow (409)."""

    status = 409
    key = "wrong_state"
    default = N_("The hồ sơ is in a state that does not allow this.")


class Forbidden(UserError):
    """The signed-in user's role does not allow this (403)."""

    status = 403
    key = "forbidden"
    default = N_("You are not allowed to do this.")


class CommandError(UserError):
    """A refused command line: one line on stderr, then exit 2."""


def incident_id() -> str:
    """A short id the user quotes and the log carries next to the traceback."""
    import secrets

    return secrets.token_hex(4)
