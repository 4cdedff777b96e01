"""#14.8: server web sessions live in the records: they end at logout (a copied cookie is worth nothing),
after the idle time and the maximum age, and when the account is disabled; the cookie is HttpOnly,
SameSite=Lax, and Secure whenever the request came over TLS (through the configured proxy)."""

from __future__ import annotations

import time

import requests

from tests.support.web import ADMIN, SUPERVISOR, csrf_from, make_archive, web_login


def _replay(url: str, cookie: str) -> int:
    return requests.get(url + "/", cookies={"session": cookie}, allow_redirects=False, timeout=10).status_code


def test_logout_ends_the_session_even_for_a_copied_cookie(archive):
    session = web_login(archive.url, *SUPERVISOR)
    stolen = session.cookies["session"]
    assert _replay(archive.url, stolen) == 200
    csrf = csrf_from(session.get(archive.url + "/", timeout=10).text)
    assert session.post(archive.url + "/logout", data={"csrf_token": csrf}, allow_redirects=False,
                        timeout=10).status_code == 302
    assert _replay(archive.url, stolen) == 302  # back to the login page


def test_disabling_the_account_ends_its_sessions(archive):
    from server.accounts import auth

    session = web_login(archive.url, *SUPERVISOR)
    cookie = session.cookies["session"]
    auth.disable_user(archive.context.db, SUPERVISOR[0])
    auth.create_user(archive.context.db, *SUPERVISOR, role="supervisor")  # re-enabled: the old session stays dead
    assert _replay(archive.url, cookie) == 302


def test_idle_and_maximum_age(tmp_path, demo_keys):
    for archive in make_archive(tmp_path / "idle", trust_roots=[demo_keys.ca_pem], session_idle_s=1):
        cookie = web_login(archive.url, *ADMIN).cookies["session"]
        assert _replay(archive.url, cookie) == 200
        time.sleep(2.2)  # the clock passing session_idle_s (1 s) is the point; 200 just above
        assert _replay(archive.url, cookie) == 302
    for archive in make_archive(tmp_path / "age", trust_roots=[demo_keys.ca_pem], session_max_s=2):
        cookie = web_login(archive.url, *ADMIN).cookies["session"]
        for _ in range(3):  # in use all along: still ends at the maximum age
            assert _replay(archive.url, cookie) == 200
            time.sleep(0.5)  # the clock passing session_max_s (2 s) while in use is the point
        time.sleep(1.0)  # past the maximum age
        assert _replay(archive.url, cookie) == 302


def _value(resp: requests.Response) -> str:
    return _set_cookie(resp).split(";")[0].split("=", 1)[1]


def _set_cookie(resp: requests.Response) -> str:
    return resp.headers.get("Set-Cookie", "")


def test_cookie_flags_plain_and_behind_tls(server_process):
    from server.accounts import auth

    with open(server_process.config, "a", encoding="utf-8") as toml:
        toml.write('trusted_proxy = "127.0.0.1"\n')  # the TLS proxy's X-Forwarded-Proto is believed
    server_process.start()
    auth.create_user(server_process.data_dir / "server.db", *ADMIN, role="admin")
    for https in (False, True):
        headers = {"X-Forwarded-Proto": "https"} if https else {}
        page = requests.get(server_process.url + "/login", headers=headers, timeout=10)
        # requests keeps a Secure cookie off plain HTTP, as a browser would: hand it over as the proxy would
        resp = requests.post(server_process.url + "/login", data={"username": ADMIN[0], "password": ADMIN[1],
                                                                  "csrf_token": csrf_from(page.text)},
                             cookies={"session": page.cookies.get("session") or _value(page)},
                             headers=headers, allow_redirects=False, timeout=30)
        assert resp.status_code == 302, resp.text[:300]
        cookie = _set_cookie(resp).lower()
        assert "samesite=lax" in cookie and "httponly" in cookie, cookie
        assert ("; secure" in cookie) == https, cookie
        assert "expires=" not in cookie  # a browser-session cookie; the records decide how long it lives
