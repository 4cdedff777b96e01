"""The one language rule of both web apps (sohoa/webi18n.py): the `lang` cookie, vi by default, the one catalogue,
and dates and numbers by Babel in the page's language. Both apps install it (their pages are walked in both languages in
tests/browser/test_i18n_walk.py)."""

from __future__ import annotations

import datetime as dt

from flask import Flask, render_template_string
from flask_babel import gettext

from sohoa import webi18n


def _app() -> Flask:
    app = Flask(__name__)
    webi18n.install(app)

    @app.get("/")
    def page():
        return render_template_string(
            "{{ _('Log out') }}|{{ when(moment) }}|{{ 1234567.5|number }}|{{ 2.5|number(1) }}|{{ '2001'|when }}",
            moment=dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC), when=webi18n.when)

    @app.get("/lang/<code>")
    def set_lang(code: str):
        return webi18n.set_language(app.make_response("ok"), code)

    return app


def test_the_cookie_chooses_vi_by_default_en_on_request():
    client = _app().test_client()
    vi = client.get("/").get_data(as_text=True).split("|")
    assert vi[0] == "Đăng xuất"  # the catalogue's words (vi is the default)
    assert vi[1] == '<time datetime="2026-12-01T01:00:00+00:00">08:00:00 1 thg 12, 2026</time>'  # Vietnam time
    assert vi[2:] == ["1.234.567,5", "2,5", "2001"]  # a partial date stays as written
    client.get("/lang/en")
    en = client.get("/").get_data(as_text=True).split("|")
    assert en[0] == "Log out"
    assert en[1].endswith(">Dec 1, 2026, 8:00:00\u202fAM</time>") or en[1].endswith(">Dec 1, 2026, 8:00:00 AM</time>")
    assert en[2:] == ["1,234,567.5", "2.5", "2001"]


def test_an_unknown_language_means_vi():
    client = _app().test_client()
    client.set_cookie("lang", "xx")
    assert client.get("/").get_data(as_text=True).startswith("Đăng xuất|")
    client.get("/lang/xx")  # the switch itself writes only a known language
    assert client.get_cookie("lang").value == "vi"


def test_the_language_of_the_request_being_answered():
    """`current()` is what both apps' templates and `label()` read: the cookie's language, else vi."""
    app = _app()
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        assert webi18n.current() == "en" and gettext("Log out") == "Log out"
    with app.test_request_context("/"):
        assert webi18n.current() == "vi" and gettext("Log out") == "Đăng xuất"
