"""Login, roles, CSRF, idle lock and audit through the real station web app."""

from __future__ import annotations

import time

from station.auth import Accounts, AuthError, hash_pin, verify_pin
from tests.support.web import PINS, login


def test_pin_hash_is_scrypt_and_salted():
    a, b = hash_pin("1234"), hash_pin("1234")
    assert a.startswith("scrypt$") and a != b
    assert verify_pin("1234", a) and not verify_pin("1235", a) and not verify_pin("1234", "plain")


def test_api_needs_login_and_csrf(station):  # noqa: F811
    from station.web.app import create_app

    client = create_app(station).test_client()
    assert client.get("/api/batches").status_code == 401
    assert client.get("/api/status").status_code == 200  # health probe stays open
    page = client.get("/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    assert client.post("/api/login", json={"operator": "op1", "pin": "0000"}).status_code == 401
    body = login(client)
    assert body["role"] == "operator" and body["token"]
    assert client.get("/api/batches").status_code == 200
    # a change with the cookie but without the CSRF token is refused; with it, accepted
    assert client.post("/api/batches/1/review").status_code == 403
    resp = client.post("/api/batches/1/review", headers={"X-CSRF-Token": body["csrf"]})
    assert resp.status_code == 404  # past auth: there is no batch 1
    # a program uses the bearer token and needs no CSRF token
    other = create_app(station).test_client()
    resp = other.post("/api/batches/1/review", headers={"Authorization": f"Bearer {body['token']}"})
    assert resp.status_code == 404
    assert other.get("/api/me", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_manual_hoso_needs_admin(station):  # noqa: F811
    from station.web.app import create_app
    from tests.support.records import hoso_record

    client = create_app(station).test_client()
    tok = login(client, "op1")["token"]
    resp = client.post("/api/batches", json={"record": hoso_record()}, headers={"Authorization": f"Bearer {tok}"})
    assert resp.status_code == 403 and "quản trị" in resp.get_json()["text"]
    tok = login(client, "adm1")["token"]
    resp = client.post("/api/batches", json={"record": hoso_record(title="")},
                       headers={"Authorization": f"Bearer {tok}"})
    assert resp.status_code == 422 and any(p["field"] == "title" for p in resp.get_json()["problems"])
    resp = client.post("/api/batches", json={"record": hoso_record()}, headers={"Authorization": f"Bearer {tok}"})
    assert resp.status_code == 201 and resp.get_json()["operator"] == "adm1"
    audit = station.store.query("SELECT actor, action FROM audit WHERE action = 'batch.open'")
    assert audit == [{"actor": "adm1", "action": "batch.open"}]


def test_idle_lock_and_unlock(station):  # noqa: F811
    from station.web.app import create_app

    app = create_app(station, idle_lock_s=1)
    client = app.test_client()
    body = login(client)
    assert client.get("/api/me").status_code == 200
    time.sleep(2.2)  # the clock passing idle_lock_s (1 s) is the point; the session answered 200 just above
    resp = client.get("/api/me")
    assert resp.status_code == 401 and resp.get_json()["error"] == "locked"
    assert "khóa" in resp.get_json()["text"]
    page = client.get("/login")
    assert "Nguyễn Văn op1" in page.get_data(as_text=True)  # the lock screen names the operator
    assert client.post("/api/unlock", json={"pin": "9999"}).status_code == 401
    assert client.post("/api/unlock", json={"pin": PINS["op1"]}).status_code == 200
    assert client.get("/api/me").get_json()["csrf"] == body["csrf"]  # same session continues
    actions = [r["action"] for r in station.store.query("SELECT action FROM audit WHERE actor = 'op1' ORDER BY id")]
    assert actions[:1] == ["login"] and "session.locked" in actions and "session.unlocked" in actions


def test_too_many_wrong_pins_block_login(station):  # noqa: F811
    accounts = Accounts(station.store)
    for _ in range(5):
        try:
            accounts.login("op1", "0000")
        except AuthError as exc:
            assert exc.code == "bad_login"
    try:
        accounts.login("op1", PINS["op1"])
        raise AssertionError("login should be blocked")
    except AuthError as exc:
        assert exc.code == "login_blocked" and "đợi" in exc.text("vi")


def test_sessions_survive_a_restart_of_the_web_app(station):  # noqa: F811
    from station.web.app import create_app

    tok = login(create_app(station).test_client())["token"]
    again = create_app(station).test_client()  # a new app on the same database, as after a restart
    assert again.get("/api/me", headers={"Authorization": f"Bearer {tok}"}).get_json()["operator"] == "op1"
    again.post("/api/logout", headers={"Authorization": f"Bearer {tok}"})
    assert again.get("/api/me", headers={"Authorization": f"Bearer {tok}"}).status_code == 401


def test_english_is_switchable(station):  # noqa: F811
    from station.web.app import create_app

    client = create_app(station).test_client()
    login(client)
    vi = client.get("/new").get_data(as_text=True)
    assert "ADF hai mặt 300 dpi màu" in vi and "Mặt kính 300 dpi màu" in vi and "Nhập thư mục" in vi
    client.get("/lang/en")
    en = client.get("/new").get_data(as_text=True)
    assert "Feeder, both sides, 300 dpi colour" in en and "ADF hai mặt" not in en
