"""The station app's error rule (protocol.errors): a UserError answers its own status; anything else is a bug,
logged with its traceback and answered 500 with an incident id. A KeyError from a typo in a handler must never
become a quiet 404, nor a ValueError a 400."""

from __future__ import annotations

import logging
import re

import pytest

from protocol.errors import NotFound
from protocol.i18n import N_
from protocol.inputs import InputError


@pytest.fixture
def app(station):  # noqa: F811 - the fixture imported above
    from station.web.app import create_app

    app = create_app(station)
    # Handlers that fail the way a typo or a refused request does, on the real app with its real handlers.
    app.add_url_rule("/api/_probe/typo", "probe_typo", lambda: {}["batch_idd"])
    app.add_url_rule("/api/_probe/value", "probe_value", lambda: int("x"))

    def refused(kind: str):  # noqa: ANN202
        if kind == "missing":
            raise NotFound(N_("Document %(n)s: a required field is missing."), n=7)
        raise InputError("bad dpi")

    app.add_url_rule("/api/_probe/user/<kind>", "probe_user", refused)
    return app


def test_user_errors_answer_their_own_status(app):
    client = app.test_client()
    missing = client.get("/api/_probe/user/missing")  # the same probe sees a real 404 ...
    assert missing.status_code == 404, missing.get_json()
    assert missing.get_json() == {"error": "not_found", "message": "Document 7: a required field is missing.",
                                  "text": "Tài liệu 7: còn thiếu trường bắt buộc."}
    bad = client.get("/api/_probe/user/bad")
    assert bad.status_code == 400 and bad.get_json()["error"] == "bad_request", bad.get_json()


def test_user_error_answers_in_the_request_language(app):
    """By key from the catalogue: Vietnamese by default, English when the operator switched to English; the
    "message" field (logs, API clients) is English either way."""
    client = app.test_client()
    vi = client.get("/api/_probe/user/missing").get_json()
    client.set_cookie("lang", "en")
    en = client.get("/api/_probe/user/missing").get_json()
    assert vi["text"] == "Tài liệu 7: còn thiếu trường bắt buộc."
    assert en["text"] == en["message"] == vi["message"] == "Document 7: a required field is missing."
    page = client.get("/_probe_missing_page")  # a screen (not /api/): the error page, in English too
    assert page.status_code == 404 and "This page does not exist." in page.get_data(as_text=True)
    client.set_cookie("lang", "vi")
    assert "Không tìm thấy trang này." in client.get("/_probe_missing_page").get_data(as_text=True)


@pytest.mark.parametrize("path, exc_type", [("/api/_probe/typo", "KeyError"), ("/api/_probe/value", "ValueError")])
def test_unexpected_error_is_logged_and_answered_500_with_incident(app, caplog, path: str, exc_type: str):
    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger="sohoa.web"):
        resp = client.get(path)
    assert resp.status_code == 500, (resp.status_code, resp.get_json())
    body = resp.get_json()
    assert body["error"] == "internal"
    incident = re.search(r"incident ([0-9a-f]{8})", body["message"]).group(1)
    assert incident in body["text"]
    assert "batch_idd" not in str(body) and "Traceback" not in str(body)  # nothing internal on the page
    logged = [r for r in caplog.records if incident in r.getMessage()]
    assert logged and logged[0].exc_info and logged[0].exc_info[0].__name__ == exc_type, caplog.text
