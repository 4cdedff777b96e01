"""#14.4: open live streams never starve the web server. 50 streams are held open against the real server
process (production thread count) and the station app while a station uploads and the pages answer."""

from __future__ import annotations

import hashlib
import socket
import time
from urllib.parse import urlsplit

import requests

from protocol import api
from tests.support.wait import wait_until
from tests.support.web import SUPERVISOR, web_login

USERS = [("giamsat.a", "mat-khau-giam-sat-a"), ("giamsat.b", "mat-khau-giam-sat-b"),
         ("giamsat.c", "mat-khau-giam-sat-c")]


def _open_stream(url: str, path: str, headers: dict[str, str]) -> tuple[socket.socket, int]:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n{lines}\r\n".encode())
    status = sock.makefile("rb").readline().decode()
    return sock, int(status.split()[1])


def _cookie(session: requests.Session) -> str:
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items())


def test_fifty_dashboard_streams_leave_uploads_and_pages_working(server_process):
    from server.accounts import auth

    creds = server_process.add_station("st-a")
    server_process.start()
    for name, password in [*USERS, SUPERVISOR]:
        auth.create_user(server_process.data_dir / "server.db", name, password, role="supervisor")
    cookies = [_cookie(web_login(server_process.url, *u)) for u in USERS]
    socks, statuses = [], []
    try:
        for i in range(50):
            sock, status = _open_stream(server_process.url, "/events", {"Cookie": cookies[i % len(cookies)]})
            socks.append(sock)
            statuses.append(status)
        assert statuses.count(200) == 5 and statuses.count(429) == 45, statuses  # 16 threads // 3, 2 per user
        # Meanwhile a station uploads a package (garbage: a signed receipt that rejects it) and pages answer.
        headers = {api.HEADER_STATION: "st-a", "Authorization": f"Bearer {creds['token']}"}
        data = b"not a package" * 100
        started = time.monotonic()
        opened = requests.post(server_process.url + api.UPLOADS, headers=headers, timeout=10,
                               json={"sha256": hashlib.sha256(data).hexdigest().upper(), "size": len(data)})
        assert opened.status_code == 201, opened.text
        upload_id = opened.json()["upload_id"]
        put = requests.put(f"{server_process.url}{api.UPLOADS}/{upload_id}/chunks/0", data=data, timeout=10,
                           headers={**headers, api.HEADER_CHUNK_SHA256: hashlib.sha256(data).hexdigest()})
        assert put.status_code == 200
        done = requests.post(f"{server_process.url}{api.UPLOADS}/{upload_id}/commit", headers=headers, timeout=20)
        assert done.status_code == 200 and done.json()["state"] == "rejected"
        page = web_login(server_process.url, *SUPERVISOR).get(server_process.url + "/", timeout=10)
        assert page.status_code == 200
        assert time.monotonic() - started < 15
    finally:
        for sock in socks:
            sock.close()
    # Closed streams give their slots back.
    def reopened() -> bool:
        sock, status = _open_stream(server_process.url, "/events", {"Cookie": cookies[0]})
        sock.close()
        return status == 200

    wait_until(reopened, 10, "a stream slot to come back", interval=0.2)


def test_fifty_batch_streams_leave_the_station_working(station_web):
    adm = station_web.login("adm1")
    batch = adm.post(station_web.url + "/api/batches", json={"record": _record()}, timeout=30).json()
    op = station_web.login("op1")
    token = requests.post(station_web.url + "/api/login", json={"operator": "op1", "pin": "1234"},
                          timeout=10).json()["token"]
    socks, statuses = [], []
    try:
        for _ in range(50):
            sock, status = _open_stream(station_web.url, f"/api/batches/{batch['id']}/events",
                                        {"Authorization": f"Bearer {token}"})
            socks.append(sock)
            statuses.append(status)
        assert statuses.count(200) == 2 and statuses.count(429) == 48, statuses
        started = time.monotonic()
        assert op.get(station_web.url + f"/api/batches/{batch['id']}", timeout=10).status_code == 200
        assert op.post(station_web.url + f"/api/batches/{batch['id']}/wait", json={"timeout": 1},
                       timeout=10).status_code == 200
        assert requests.get(station_web.url + "/login", timeout=10).status_code == 200
        assert time.monotonic() - started < 10
        resp = op.post(station_web.url + f"/api/batches/{batch['id']}/wait", json={"timeout": 600}, timeout=10)
        assert resp.status_code == 400  # a request may hold a thread for a minute at most
    finally:
        for sock in socks:
            sock.close()


def _record() -> dict:
    from tests.support.records import hoso_record

    return hoso_record()
