"""Roles enforced server-side on every endpoint of the archive server: each route of the real app's url_map
is tried without login, with a station's API token, as supervisor, as archivist and as admin.

ACCESS classifies every endpoint; an endpoint missing from it fails the test, so a new route cannot ship
without someone deciding who may call it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol import api
from server.accounts import auth
from tests.support.web import ADMIN, ARCHIVIST, SUPERVISOR

PUBLIC, STATION, SUPERVISOR_ROLE, ADMIN_ROLE = "public", "station", "supervisor", "admin"
ARCHIVIST_ROLE = "archivist"
ACCESS = {
    "static": PUBLIC,
    "ingest.health": PUBLIC,
    "ingest.openapi": PUBLIC,
    "ingest.server_key": PUBLIC,
    "enroll.enroll": PUBLIC,  # guarded by the one-time code and a rate limit
    "web.login": PUBLIC,
    "web.set_lang": PUBLIC,
    "ingest.workorders": STATION,
    "operators.list_for_station": STATION,
    "operators.verify_for_station": STATION,
    "ingest.open_upload": STATION,
    "ingest.upload_status": STATION,
    "ingest.put_chunk": STATION,
    "ingest.commit": STATION,
    "ingest.rework_list": STATION,
    "ingest.rework_package": STATION,
    "web.logout": SUPERVISOR_ROLE,
    "web.dashboard": SUPERVISOR_ROLE,
    "web.dashboard_json": SUPERVISOR_ROLE,
    "web.events": SUPERVISOR_ROLE,
    "web.search": SUPERVISOR_ROLE,
    "web.workorders": SUPERVISOR_ROLE,
    "web.workorders_json": SUPERVISOR_ROLE,
    "web.workorders_import": SUPERVISOR_ROLE,
    "web.workorders_assign": SUPERVISOR_ROLE,
    "web.workorders_reopen": ADMIN_ROLE,
    "web.users": ADMIN_ROLE,
    "web.stations": ADMIN_ROLE,
    "web.stations_json": ADMIN_ROLE,
    "web.station_code": ADMIN_ROLE,
    "web.station_revoke": ADMIN_ROLE,
    "archive.index": ARCHIVIST_ROLE,
    "archive.fonds": ARCHIVIST_ROLE,
    "archive.hoso": ARCHIVIST_ROLE,
    "archive.viewer": ARCHIVIST_ROLE,
    "archive.page_image": ARCHIVIST_ROLE,
    "archive.page_text": ARCHIVIST_ROLE,
    "archive.integrity": ARCHIVIST_ROLE,
    "archive.download": ARCHIVIST_ROLE,
    "archive.find": ARCHIVIST_ROLE,
    "archive.lots_index": ARCHIVIST_ROLE,
    "archive.lot": ARCHIVIST_ROLE,
    "archive.draw_sample": ARCHIVIST_ROLE,
    "archive.inspect": ARCHIVIST_ROLE,
    "archive.propose": ARCHIVIST_ROLE,
    "archive.decision": ARCHIVIST_ROLE,
    "archive.validate": ARCHIVIST_ROLE,
    "archive.audit": ADMIN_ROLE,
    "archive.audit_csv": ADMIN_ROLE,
    "archive_copies.index": ARCHIVIST_ROLE,
    "archive_copies.make": ARCHIVIST_ROLE,
    "archive_copies.show": ARCHIVIST_ROLE,
    "archive_copies.download": ARCHIVIST_ROLE,
    "archive_copies.read": ARCHIVIST_ROLE,
    "archive_copies.read_page": ARCHIVIST_ROLE,
}
ARGS = {"filename": "server.css", "upload_id": "no-such-upload", "offset": "0", "station_id": "tram-x", "code": "en",
        "fonds_code": "P_UBND_DN", "objid": "no-such-package", "doc_id": "no-such-doc", "page": "1",
        "copy_id": "0" * 32, "lot": "station:tram-01", "decision_id": "no-such-decision"}
IDENTITIES = ("anonymous", "station", "supervisor", "archivist", "admin")


@pytest.fixture
def app_and_ctx(tmp_path: Path):
    from server.app import build_context, create_app
    from server.config import ServerConfig

    context = build_context(ServerConfig(data_dir=tmp_path / "server"))
    auth.create_user(context.db, *ADMIN, role="admin")
    auth.create_user(context.db, *SUPERVISOR, role="supervisor")
    auth.create_user(context.db, *ARCHIVIST, role="archivist")
    creds = context.db.add_station("tram-01")
    app = create_app(context)
    app.config["TESTING"] = False  # errors must surface as the 5xx a user would see, not as test exceptions
    return app, context, creds


def _path(rule) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: ARGS[m.group(1)], rule.rule)


def _login(app, name: str, password: str, landing: str = "/"):
    client = app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    resp = client.post("/login", data={"username": name, "password": password, "csrf_token": token})
    assert resp.status_code == 302, resp.text[:300]
    assert resp.headers["Location"].endswith(landing), resp.headers["Location"]  # each role lands on its page
    page = client.get(landing)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client, csrf


def _client(app, identity: str, creds: dict):
    """(test client, extra headers) for one identity; a fresh session each time (logout ends one)."""
    if identity == "supervisor":
        client, csrf = _login(app, *SUPERVISOR)
        return client, {"X-CSRF-Token": csrf}
    if identity == "admin":
        client, csrf = _login(app, *ADMIN)
        return client, {"X-CSRF-Token": csrf}
    if identity == "archivist":
        client, csrf = _login(app, *ARCHIVIST, landing="/archive/")
        return client, {"X-CSRF-Token": csrf}
    if identity == "station":
        return app.test_client(), {api.HEADER_STATION: creds["station_id"],
                                   "Authorization": f"Bearer {creds['token']}"}
    return app.test_client(), {}


def _allowed(access: str, identity: str) -> bool:
    if access == PUBLIC:
        return True
    if access == STATION:
        return identity == "station"
    if access == SUPERVISOR_ROLE:
        return identity in ("supervisor", "admin")
    if access == ARCHIVIST_ROLE:
        return identity in ("archivist", "admin")
    return identity == "admin"


def _call(client, method: str, path: str, headers: dict):
    kwargs = {"headers": headers}
    if method != "GET":
        kwargs["json"] = {}
    resp = client.open(path, method=method, buffered=False, **kwargs)  # /events streams: status only
    status, location = resp.status_code, resp.headers.get("Location", "")
    resp.close()
    return status, location


def test_every_server_endpoint_is_classified(app_and_ctx):
    app, _, _ = app_and_ctx
    missing = sorted({r.endpoint for r in app.url_map.iter_rules()} - set(ACCESS))
    assert not missing, f"classify these endpoints in ACCESS (who may call them?): {missing}"
    # The web guard's own idea of each endpoint's role agrees with the table.
    for endpoint, access in ACCESS.items():
        if endpoint.startswith("web."):
            expected = None if access == PUBLIC else access
            assert auth.endpoint_role(app.view_functions[endpoint]) == expected, endpoint


@pytest.mark.parametrize("identity", IDENTITIES)
def test_every_server_endpoint_enforces_its_role(app_and_ctx, identity: str):
    app, _, creds = app_and_ctx
    problems, checked = [], 0
    for rule in app.url_map.iter_rules():
        access = ACCESS[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            client, headers = _client(app, identity, creds)
            status, location = _call(client, method, _path(rule), headers)
            checked += 1
            where = f"{identity} {method} {_path(rule)} ({rule.endpoint}) -> {status} {location}"
            if status >= 500:
                problems.append("5xx: " + where)
            elif _allowed(access, identity):
                if status in (401, 403) or "/login" in location and rule.endpoint != "web.logout":
                    problems.append("refused a permitted caller: " + where)
            elif status not in (401, 403) and not (status == 302 and "/login" in location):
                problems.append("let a forbidden caller through: " + where)
            elif access != STATION and identity in ("supervisor", "archivist") and status != 403:
                problems.append(f"a logged-in {identity} on a page of another role must get 403: " + where)
    assert not problems, "\n".join(problems)
    assert checked >= 27


def test_web_changes_need_the_csrf_token_even_for_admin(app_and_ctx):
    app, _, _ = app_and_ctx
    client, _ = _login(app, *ADMIN)
    checked = 0
    for rule in app.url_map.iter_rules():
        if ACCESS[rule.endpoint] in (PUBLIC, STATION):
            continue
        for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"}):
            resp = client.open(_path(rule), method=method, data={"station_id": "tram-y", "username": "abc"})
            assert resp.status_code == 400 and resp.get_json()["error"] == "csrf", (rule.rule, resp.status_code)
            checked += 1
    assert checked >= 6


def test_a_revoked_station_token_is_refused_on_every_station_endpoint(app_and_ctx):
    app, context, creds = app_and_ctx
    context.db.revoke_station("tram-01")
    for rule in app.url_map.iter_rules():
        if ACCESS[rule.endpoint] != STATION:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            client, headers = _client(app, "station", creds)
            status, _ = _call(client, method, _path(rule), headers)
            assert status == 401, (method, rule.rule, status)
