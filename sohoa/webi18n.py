"""The one language rule of both web apps (station, server): Flask-Babel over the one catalogue
(protocol/translations), the language a `lang` cookie chooses (default vi), and dates and numbers formatted
by Babel in that language. protocol/i18n holds the catalogue and `translate` for code without a request;
this module is its Flask side, so protocol/ never imports Flask."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, request
from flask_babel import Babel, format_datetime, format_decimal, get_locale
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from protocol.i18n import DEFAULT, LANGS, TRANSLATIONS

COOKIE = "lang"
TIMEZONE = "Asia/Ho_Chi_Minh"  # the archives' time, whatever the server's clock zone


def locale() -> str:
    """The page's language: the `lang` cookie when it names a known language, else vi."""
    chosen = request.cookies.get(COOKIE, DEFAULT)
    return chosen if chosen in LANGS else DEFAULT


def current() -> str:
    """The language of the request being answered (vi outside a request)."""
    found = get_locale()
    return str(found) if found is not None else DEFAULT


def set_language(response: BaseResponse, code: str) -> BaseResponse:
    """Remember `code` (an unknown one means the default) for a year."""
    response.set_cookie(COOKIE, code if code in LANGS else DEFAULT, samesite="Strict", max_age=3600 * 24 * 365)
    return response


def when(value: Any, form: str = "medium") -> Markup | str:
    """A moment (datetime, ISO text or epoch seconds) in the page's language and the archives' time zone, as
    <time datetime="ISO"> so scripts and tests still read the exact moment; the value itself when it is not
    one (a partial date such as "2001" stays as written)."""
    moment = _moment(value)
    if moment is None:
        return "" if value is None else str(value)
    return Markup('<time datetime="{}">{}</time>').format(moment.isoformat(), format_datetime(moment, form))


def number(value: Any, digits: int | None = None) -> str:
    """A number in the page's language (1.234,5 in vi; 1,234.5 in en); anything else as it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if digits is not None:
        return format_decimal(value, format="#,##0." + "0" * digits if digits else "#,##0")
    return format_decimal(value)


def _moment(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and value[10:11] in ("T", " "):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return None


def install(app: Flask) -> None:
    """Flask-Babel on `app` with the one catalogue, the cookie rule and the `when`/`number` filters."""
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    app.config["BABEL_DEFAULT_TIMEZONE"] = TIMEZONE
    Babel(app, locale_selector=locale)
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["number"] = number
