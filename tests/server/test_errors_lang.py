"""The server answers errors by key from the one catalogue (protocol/translations): Vietnamese by default,
English once the user switched to English; the "message" field (logs, API clients) is English either way.
The real server app over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.errors import NotFound
from protocol.i18n import N_
from server.accounts import auth
from tests.support.web import SUPERVISOR, web_login


@pytest.fixture
def server(tmp_path: Path):
    from server.app import build_context, create_app
    from server.config import ServerConfig
    from tests.support.servers import serving

    context = build_context(ServerConfig(data_dir=tmp_path / "server"))
    auth.create_user(context.db, *SUPERVISOR, role="supervisor")
    app = create_app(context)

    def missing():  # noqa: ANN202 - a handler that raises the way a refused request does
        raise NotFound(N_("Document %(n)s: a required field is missing."), n=7)

    app.add_url_rule("/api/_probe/missing", "probe_missing", missing)
    with serving(context, app) as live:
        yield live.url


def test_raised_error_answers_in_the_users_language(server):
    s = web_login(server, *SUPERVISOR)
    vi = s.get(server + "/api/_probe/missing", timeout=10)
    assert vi.status_code == 404, vi.text
    assert vi.json() == {"error": "not_found", "message": "Document 7: a required field is missing.",
                         "text": "Tài liệu 7: còn thiếu trường bắt buộc."}
    s.get(server + "/lang/en?next=/", timeout=10)
    en = s.get(server + "/api/_probe/missing", timeout=10).json()
    assert en["text"] == en["message"] == "Document 7: a required field is missing."


def test_a_refused_search_says_why_in_the_users_language(server):
    """A real page: the catalogue's QueryError message, in the language the user chose."""
    s = web_login(server, *SUPERVISOR)
    long = "x" * 600
    vi = s.get(server + "/search", params={"q": long}, timeout=10)
    assert vi.status_code == 400 and "Câu tìm kiếm dài quá 500 ký tự: hãy rút gọn." in vi.text, vi.text[:500]
    s.get(server + "/lang/en?next=/", timeout=10)
    en = s.get(server + "/search", params={"q": long}, timeout=10)
    assert en.status_code == 400 and "query longer than 500 characters: shorten it" in en.text
    assert "Câu tìm kiếm" not in en.text
