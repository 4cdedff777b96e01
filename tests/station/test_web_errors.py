"""The station app's error rule (protocol.errors): a UserError answers its own status; anything else is a bug,
logged with its traceback and answered 500 with an incident id. A KeyError from a typo in a handler must never
become a quiet 404, nor a ValueError a 400."""

from __future__ import annotations

import logging
import re

import pytest

from protocol.errors import NotFound
from protocol.inputs import InputError


@pytest.fixture
def app(station):  # noqa: F811 - the fixture imported above
    from station.web.app import create_app

    app = create_app(station)
    # Handlers that fail the way a typo or a refused request does, on the real app with its real handlers.
    app.add_url_rule("/api/_probe/typo", "probe_typo", lambda: {}["batch_idd"])
    app.add_url_rule("/api/_probe/value", "probe_value", lambda: int("x"))

    def refused(kind: str):  # noqa: ANN202
        raise NotFound("no batch 7", "Không tìm thấy hồ sơ 7.") if kind == "missing" else InputError("bad dpi")

    app.add_url_rule("/api/_probe/user/<kind>", "probe_user", refused)
    return app


def test_user_errors_answer_their_own_status(app):
    client = app.test_client()
    missing = client.get("/api/_probe/user/missing")  # the same probe sees a real 404 ...
    assert missing.status_code == 404, missing.get_json()
    assert missing.get_json() == {"error": "not_found", "message": "no batch 7",
                                  "message_vi": "Không tìm thấy hồ sơ 7."}
    bad = client.get("/api/_probe/user/bad")
    assert bad.status_code == 400 and bad.get_json()["error"] == "bad_request", bad.get_json()


@pytest.mark.parametrize("path, exc_type", [("/api/_probe/typo", "KeyError"), ("/api/_probe/value", "ValueError")])
def test_unexpected_error_is_logged_and_answered_500_with_incident(app, caplog, path: str, exc_type: str):
    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger="sohoa.web"):
        resp = client.get(path)
    assert resp.status_code == 500, (resp.status_code, resp.get_json())
    body = resp.get_json()
    assert body["error"] == "internal"
    incident = re.search(r"incident ([0-9a-f]{8})", body["message"]).group(1)
    assert incident in body["message_vi"]
    assert "batch_idd" not in str(body) and "Traceback" not in str(body)  # nothing internal on the page
    logged = [r for r in caplog.records if incident in r.getMessage()]
    assert logged and logged[0].exc_info and logged[0].exc_info[0].__name__ == exc_type, caplog.text
