"""Web helpers shared by the tests: the accounts the fixtures create, logging in to the station app (test
client or HTTP) and to the server's web pages, the archive server and station app the security tests drive."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.records import hoso_record
from tests.support.servers import serving

# Station operators (PIN login), created by seed_accounts
PINS = {"op1": "1234", "sup1": "5678", "adm1": "9012"}
ROLES = {"op1": "operator", "sup1": "supervisor", "adm1": "admin"}
# Server web accounts (password login)
ADMIN = ("chi.admin", "mat-khau-quan-tri")
SUPERVISOR = ("anh.giamsat", "mat-khau-giam-sat")
ARCHIVIST = ("chi.luutru", "mat-khau-luu-tru")


def seed_accounts(store: Any) -> None:
    from station.auth import Accounts

    accounts = Accounts(store)
    for code, pin in PINS.items():
        accounts.add(code=code, name=f"Nguyễn Văn {code}", role=ROLES[code], pin=pin, actor="test")


def login(client: Any, code: str = "op1") -> dict:
    """A station session through the Flask test client: the /api/login answer."""
    resp = client.post("/api/login", json={"operator": code, "pin": PINS[code]})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def admin_headers(client: Any) -> dict[str, str]:
    """Bearer headers of an admin session (a hồ sơ typed in by hand, without a server work order, needs one)."""
    token = login(client.application.test_client(), "adm1")["token"]
    return {"Authorization": f"Bearer {token}"}


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def web_login(url: str, name: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(url + "/login", timeout=10)
    resp = session.post(url + "/login", data={"username": name, "password": password,
                                              "csrf_token": csrf_from(page.text)}, allow_redirects=False, timeout=30)
    assert resp.status_code == 302, f"login failed: {resp.status_code} {resp.text[:300]}"
    return session


@dataclass
class Archive:
    url: str
    context: Any
    app: Any
    secrets: dict[str, dict[str, str]]  # station id -> add_station() answer
    orders: dict[str, str]  # station id -> a work order assigned to it

    def station_headers(self, station_id: str) -> dict[str, str]:
        from protocol import api

        return {api.HEADER_STATION: station_id,
                "Authorization": f"Bearer {self.secrets[station_id]['token']}"}

    def open_upload(self, station_id: str, data: bytes, **manifest: Any) -> requests.Response:
        import hashlib

        body = {"sha256": hashlib.sha256(data).hexdigest().upper(), "size": len(data), **manifest}
        return requests.post(self.url + "/api/v1/uploads", json=body, headers=self.station_headers(station_id),
                             timeout=30)

    def upload(self, station_id: str, data: bytes, **manifest: Any) -> dict:
        """Open, send in one chunk and commit; the commit's answer (or the refusal to open)."""
        import hashlib

        from protocol import api

        opened = self.open_upload(station_id, data, **manifest)
        if opened.status_code != 201:
            return {"status": opened.status_code, **opened.json()}
        upload_id = opened.json()["upload_id"]
        headers = {**self.station_headers(station_id), api.HEADER_CHUNK_SHA256: hashlib.sha256(data).hexdigest()}
        put = requests.put(f"{self.url}/api/v1/uploads/{upload_id}/chunks/0", data=data, headers=headers, timeout=60)
        assert put.status_code == 200, put.text
        done = requests.post(f"{self.url}/api/v1/uploads/{upload_id}/commit", headers=self.station_headers(station_id),
                             timeout=120)
        return {"status": done.status_code, **done.json()}


def make_archive(tmp_path: Path, **config_kw: Any) -> Iterator[Archive]:
    from server.accounts import auth
    from server.app import build_context, create_app
    from server.config import ServerConfig

    context = build_context(ServerConfig(data_dir=tmp_path / "server", **config_kw))
    auth.create_user(context.db, *ADMIN, role="admin")
    auth.create_user(context.db, *SUPERVISOR, role="supervisor")
    secrets = {sid: context.db.add_station(sid, name=f"Trạm {sid}") for sid in ("st-a", "st-b")}
    context.db.add_fonds("P_UBND_DN", "UBND tỉnh Đồng Nai")
    context.db.add_fonds("P_OTHER", "Phông khác")
    orders = {
        "st-a": context.db.add_workorder(fonds_code="P_UBND_DN", file_code="000.00.00.H47.2001.160.VP",
                                         record=hoso_record(title="Hồ sơ A"), expected_sheets=1, station_id="st-a"),
        "st-b": context.db.add_workorder(fonds_code="P_OTHER", file_code="000.00.00.H47.2001.161.VP",
                                         record=hoso_record(title="Hồ sơ B", notation="161.VP", fonds_code="P_OTHER"),
                                         expected_sheets=1, station_id="st-b"),
    }
    app = create_app(context)
    with serving(context, app) as live:
        yield Archive(live.url, context, app, secrets, orders)


@dataclass
class StationWeb:
    url: str
    station: Any
    app: Any

    def login(self, code: str = "op1") -> requests.Session:
        session = requests.Session()
        resp = session.post(self.url + "/api/login", json={"operator": code, "pin": PINS[code]}, timeout=30)
        assert resp.status_code == 200, resp.text
        session.headers["X-CSRF-Token"] = resp.json()["csrf"]
        return session


def show_listeners_see(page: Any, *probes: list[str], fetch_elsewhere: str = "http://127.0.0.1:9/probe") -> None:
    """Positive control for a browser test's "no page error" and "nothing from another site" listeners: the page
    throws, asks for a missing page of its own site and for one elsewhere; every list in `probes` must catch one
    of them within 10 s. Then the lists are emptied, so the test's own `assert not ...` starts clean: only once
    the missing page's answer is in, since a list that also takes the page error may be filled before it (a
    fresh run saw the 404 arrive after the emptying)."""
    from tests.support.wait import wait_until

    with page.expect_response(lambda r: r.url.endswith("/no-such-page-probe"), timeout=10_000):
        page.evaluate("(elsewhere) => { fetch('/no-such-page-probe').catch(() => {}); fetch(elsewhere).catch(() => {});"
                      " setTimeout(() => { throw new Error('positive control'); }, 0); }", fetch_elsewhere)
    wait_until(lambda: page.wait_for_timeout(50) or all(probes), 10, "the page's listeners to see the controls")
    for probe in probes:
        probe.clear()
