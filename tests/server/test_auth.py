"""Web accounts: scrypt hashes, session login, CSRF, rate limiting and roles on every web endpoint
(the real server app over real HTTP)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import requests

from server.accounts import auth
from tests.support.web import ADMIN, SUPERVISOR, csrf_from, web_login


@pytest.fixture
def server(tmp_path: Path):
    from server.app import build_context, create_app
    from server.config import ServerConfig
    from tests.support.servers import serving

    context = build_context(ServerConfig(data_dir=tmp_path / "server"))
    auth.create_user(context.db, *ADMIN, role="admin")
    auth.create_user(context.db, *SUPERVISOR, role="supervisor")
    app = create_app(context)
    with serving(context, app) as live:
        yield live.url, context, app


def test_scrypt_hash_is_salted_and_checks():
    one, two = auth.hash_password("đúng-mật-khẩu"), auth.hash_password("đúng-mật-khẩu")
    assert one != two and one.startswith("scrypt$16384$8$1$")
    assert auth.check_password("đúng-mật-khẩu", one)
    assert not auth.check_password("sai-mật-khẩu", one)
    assert not auth.check_password("x", "garbage")


@pytest.mark.parametrize(
    "name, password, role, vi",
    [
        ("A B", "long-enough", "admin", "Tên đăng nhập"),
        ("giamsat", "short", "supervisor", "Mật khẩu"),
        ("giamsat", "long-enough", "root", "Vai trò"),
    ],
)
def test_create_user_refuses_bad_input_with_vietnamese_message(tmp_path, name, password, role, vi):
    with pytest.raises(auth.AuthError) as err:
        auth.create_user(tmp_path / "s.db", name, password, role)
    assert vi in err.value.text("vi")


def test_every_web_endpoint_needs_login(server):
    url, _, app = server
    public = {"web.login", "web.set_lang"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("web.") or rule.endpoint in public:
            continue
        path = rule.rule.replace("<code>", "en")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = requests.request(method, url + path, allow_redirects=False, timeout=10)
            assert resp.status_code in (302, 401), f"{method} {path} answered {resp.status_code} without login"
            if resp.status_code == 302:
                assert "/login" in resp.headers["Location"]
            checked += 1
    assert checked >= 8  # dashboard, events, JSON, search, work orders (4), users (2), logout


def test_login_then_dashboard_and_logout(server):
    url, _, _ = server
    s = web_login(url, *SUPERVISOR)
    page = s.get(url + "/", timeout=10)
    assert page.status_code == 200 and "Trạm số hóa" in page.text
    s.post(url + "/logout", data={"csrf_token": csrf_from(page.text)}, timeout=10)
    assert s.get(url + "/", allow_redirects=False, timeout=10).status_code == 302


def test_wrong_password_and_unknown_user_look_the_same(server):
    url, _, _ = server
    for name, password in ((SUPERVISOR[0], "wrong-password"), ("nobody", "wrong-password")):
        s = requests.Session()
        token = csrf_from(s.get(url + "/login", timeout=10).text)
        resp = s.post(url + "/login", data={"username": name, "password": password, "csrf_token": token}, timeout=10)
        assert resp.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in resp.text


def test_login_form_needs_its_csrf_token(server):
    url, _, _ = server
    resp = requests.post(
        url + "/login", data={"username": ADMIN[0], "password": ADMIN[1]}, timeout=10, allow_redirects=False
    )
    assert resp.status_code == 400


def test_post_without_csrf_token_is_refused(server):
    url, _, _ = server
    s = web_login(url, *ADMIN)
    resp = s.post(
        url + "/users", data={"username": "moi.nguoi", "password": "mat-khau-moi", "role": "supervisor"}, timeout=10
    )
    assert resp.status_code == 400 and resp.json()["error"] == "csrf"
    token = csrf_from(s.get(url + "/users", timeout=10).text)
    resp = s.post(
        url + "/users",
        data={"username": "moi.nguoi", "password": "mat-khau-moi", "role": "supervisor", "csrf_token": token},
        timeout=10,
    )
    assert resp.status_code == 200 and "moi.nguoi" in resp.text


def test_supervisor_may_not_manage_accounts(server):
    url, _, _ = server
    s = web_login(url, *SUPERVISOR)
    assert s.get(url + "/users", timeout=10).status_code == 403
    assert s.get(url + "/workorders", timeout=10).status_code == 200


def test_login_rate_limit_blocks_even_the_right_password(server):
    url, _, _ = server
    s = requests.Session()
    token = csrf_from(s.get(url + "/login", timeout=10).text)
    for _ in range(5):
        resp = s.post(url + "/login", data={"username": ADMIN[0], "password": "guess", "csrf_token": token}, timeout=10)
        assert resp.status_code == 401
    resp = s.post(
        url + "/login",
        data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": token},
        timeout=10,
        allow_redirects=False,
    )
    assert resp.status_code == 429 and "Thử lại sau" in resp.text
    # Counted per account and address: another account from this address is not locked out by these five
    # (the per-address limit is higher); tests/security/test_lockout.py covers the owner at another address.
    assert (
        s.post(
            url + "/login", data={"username": SUPERVISOR[0], "password": SUPERVISOR[1], "csrf_token": token},
            timeout=10, allow_redirects=False,
        ).status_code
        == 302
    )


def test_disabled_account_loses_its_session(server):
    url, context, _ = server
    s = web_login(url, *SUPERVISOR)
    assert s.get(url + "/", timeout=10).status_code == 200
    auth.disable_user(context.db, SUPERVISOR[0])
    assert s.get(url + "/", allow_redirects=False, timeout=10).status_code == 302


def test_no_open_redirect_after_login(server):
    url, _, _ = server
    s = requests.Session()
    token = csrf_from(s.get(url + "/login", timeout=10).text)
    resp = s.post(
        url + "/login?next=//evil.example/x",
        data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_session_key_is_private(server):
    _, context, _ = server
    key = context.config.data_dir / "keys" / "web-session.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32


def test_session_key_made_once_by_servers_starting_together(tmp_path: Path):
    """Several servers naming one shared key file and starting at once all get the same whole key."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    path = tmp_path / "shared" / "web-session.key"
    start = Barrier(8)

    def load(_: int) -> bytes:
        start.wait()
        return auth.load_or_create_secret(path)

    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(load, range(8)))
    assert len(set(keys)) == 1 and keys[0] == path.read_bytes() and len(keys[0]) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["web-session.key"]  # no temporary file left
    path.write_bytes(b"")  # a damaged key is an error, not an empty secret that signs every session alike
    with pytest.raises(ValueError, match="damaged"):
        auth.load_or_create_secret(path)


def test_session_key_file_setting(tmp_path: Path):
    from server.config import ServerConfig, load_config

    assert ServerConfig(data_dir=tmp_path).session_key_path == tmp_path / "keys" / "web-session.key"
    toml = tmp_path / "server.toml"
    toml.write_text(f'data_dir = "{tmp_path}"\nsession_key_file = "/srv/chung/web-session.key"\n', encoding="utf-8")
    assert load_config(toml).session_key_path == Path("/srv/chung/web-session.key")


def test_english_switch(server):
    url, _, _ = server
    s = web_login(url, *SUPERVISOR)
    s.get(url + "/lang/en?next=/", timeout=10)
    assert "Scanning stations" in s.get(url + "/", timeout=10).text
    s.get(url + "/lang/vi", timeout=10)
    assert "Trạm số hóa" in s.get(url + "/", timeout=10).text
