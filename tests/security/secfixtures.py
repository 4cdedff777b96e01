"""Security tests: the real server and station apps over real HTTP (waitress on 127.0.0.1), the real broker.

Each test module pins one finding of the attack run (issue #14); docs/security.md says what stops each.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "station"))  # webfixtures, as the station tests use it

from webfixtures import PINS, seed_accounts  # noqa: E402

from tests.station.conftest import sane_test_device  # noqa: E402,F401 - the fixture

ADMIN = ("chi.admin", "mat-khau-quan-tri")
SUPERVISOR = ("anh.giamsat", "mat-khau-giam-sat")


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
    from server import auth
    from server.app import build_context, create_app
    from server.config import ServerConfig
    from tests.conftest import LiveServer

    context = build_context(ServerConfig(data_dir=tmp_path / "server", **config_kw))
    auth.create_user(context.db, *ADMIN, role="admin")
    auth.create_user(context.db, *SUPERVISOR, role="supervisor")
    secrets = {sid: context.db.add_station(sid, name=f"Trạm {sid}") for sid in ("st-a", "st-b")}
    context.db.add_fonds("P_UBND_DN", "UBND tỉnh Đồng Nai")
    context.db.add_fonds("P_OTHER", "Phông khác")
    from tests.conftest import hoso_record

    orders = {
        "st-a": context.db.add_workorder(fonds_code="P_UBND_DN", file_code="000.00.00.H47.2001.160.VP",
                                         record=hoso_record(title="Hồ sơ A"), expected_sheets=1, station_id="st-a"),
        "st-b": context.db.add_workorder(fonds_code="P_OTHER", file_code="000.00.00.H47.2001.161.VP",
                                         record=hoso_record(title="Hồ sơ B", notation="161.VP", fonds_code="P_OTHER"),
                                         expected_sheets=1, station_id="st-b"),
    }
    app = create_app(context)
    with LiveServer(app) as live:
        yield Archive(live.url, context, app, secrets, orders)


@pytest.fixture
def archive(tmp_path: Path, demo_keys: Any) -> Iterator[Archive]:
    yield from make_archive(tmp_path, trust_roots=[demo_keys.ca_pem])


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


@pytest.fixture
def station(tmp_path: Path, sane_test_device: str) -> Iterator[Any]:  # noqa: F811
    from station.config import StationConfig
    from station.service import Station

    st = Station(StationConfig(data_dir=tmp_path / "station", device=sane_test_device, workers=1))
    st.start()
    seed_accounts(st.store)
    yield st
    st.stop()


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


@pytest.fixture
def station_web(station: Any) -> Iterator[StationWeb]:
    from station.web.app import create_app
    from tests.conftest import LiveServer

    app = create_app(station)
    with LiveServer(app) as live:
        yield StationWeb(live.url, station, app)


@pytest.fixture
def linked_web(tmp_path: Path, sane_test_device: str, archive: Archive) -> Iterator[StationWeb]:  # noqa: F811
    """Station st-a, synced with the archive fixture's server (its work orders, its operator accounts)."""
    from station.config import StationConfig
    from station.service import Station
    from station.web.app import create_app
    from tests.conftest import LiveServer

    token = tmp_path / "st-a.token"
    token.write_text(archive.secrets["st-a"]["token"])
    config = StationConfig(data_dir=tmp_path / "linked", device=sane_test_device, workers=1, station_id="st-a",
                           server_url=archive.url, token_file=token, sync_interval=3600)
    st = Station(config)
    st.start()
    seed_accounts(st.store)
    app = create_app(st)
    try:
        with LiveServer(app) as live:
            yield StationWeb(live.url, st, app)
    finally:
        st.stop()
