"""#14.10: PINs and lockouts. No station token can fetch a PIN hash; the archive checks PINs for stations
(limited per operator and station); failed logins count per account and client address with growing
waits, so a stranger cannot lock out the owner; a forwarded address is believed only from the configured
proxy; the station's account list is not public."""

from __future__ import annotations

import pytest
import requests

from server.accounts.operators import set_operator
from sohoa.limits import AttemptLimiter
from tests.support.web import ADMIN, csrf_from


def _login(url: str, name: str, password: str, forwarded: str | None = None) -> requests.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    s = requests.Session()
    page = s.get(url + "/login", headers=headers, timeout=10)
    return s.post(url + "/login", data={"username": name, "password": password, "csrf_token": csrf_from(page.text)},
                  headers=headers, allow_redirects=False, timeout=30)


def test_stranger_cannot_lock_out_the_owner_and_waits_grow(server_process):
    from server.accounts import auth

    with open(server_process.config, "a", encoding="utf-8") as toml:
        toml.write('trusted_proxy = "127.0.0.1"\n')
    server_process.start()
    auth.create_user(server_process.data_dir / "server.db", *ADMIN, role="admin")
    statuses = [_login(server_process.url, ADMIN[0], "wrong", "10.0.0.66").status_code for _ in range(8)]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 3, statuses
    assert _login(server_process.url, *ADMIN, forwarded="10.0.0.5").status_code == 302  # the owner, elsewhere
    assert _login(server_process.url, *ADMIN, forwarded="10.0.0.66").status_code == 429  # the stranger waits


def test_forwarded_address_not_believed_without_a_configured_proxy(server_process):
    from server.accounts import auth

    server_process.start()  # no trusted_proxy
    auth.create_user(server_process.data_dir / "server.db", *ADMIN, role="admin")
    for i in range(5):
        assert _login(server_process.url, ADMIN[0], "wrong", f"10.0.1.{i}").status_code == 401
    # every attempt came from 127.0.0.1 whatever the header said: this address is now waiting
    assert _login(server_process.url, *ADMIN, forwarded="10.0.9.9").status_code == 429


def test_waits_double_past_the_free_attempts():
    now = [0.0]
    limiter = AttemptLimiter(free=5, base_s=30, max_s=3600, clock=lambda: now[0])
    waits = []
    for _ in range(9):
        limiter.failed("sup", "10.0.0.66")
        waits.append(limiter.retry_after("sup", "10.0.0.66"))
    assert waits[:4] == [0, 0, 0, 0] and waits[4:] == [30, 60, 120, 240, 480]
    assert limiter.retry_after("sup", "10.0.0.5") == 0  # the owner elsewhere is not locked
    now[0] = 10_000.0
    assert limiter.retry_after("sup", "10.0.0.66") == 0


def test_no_station_can_fetch_a_pin_hash_and_pin_checks_are_limited_per_station(archive):
    set_operator(archive.context.db, "nv01", name="Trần Thị Lan", role="operator", pin="4321")
    listing = requests.get(archive.url + "/api/v1/operators", headers=archive.station_headers("st-a"), timeout=10)
    assert listing.status_code == 200 and "nv01" in listing.text
    assert "pin_hash" not in listing.text and "scrypt" not in listing.text
    stored = archive.context.db.query("SELECT pin_hash FROM operators WHERE code = 'nv01'")[0]["pin_hash"]
    assert "scrypt" in stored, "positive control: the hash the probe looks for is there to leak"
    verify = archive.url + "/api/v1/operators/verify"
    assert requests.post(verify, json={"code": "nv01", "pin": "4321"}, timeout=30).status_code == 401  # no token
    statuses = [requests.post(verify, json={"code": "nv01", "pin": f"{i:04d}"}, timeout=30,
                              headers=archive.station_headers("st-b")).status_code for i in range(6)]
    assert statuses == [401] * 5 + [429], statuses
    ok = requests.post(verify, json={"code": "nv01", "pin": "4321"}, headers=archive.station_headers("st-a"),
                       timeout=30)
    assert ok.status_code == 200 and ok.json() == {"code": "nv01", "name": "Trần Thị Lan", "role": "operator"}


def test_station_pin_lockout_is_per_address_and_account_list_is_not_public(station_web):
    from station.auth import AuthError

    accounts = station_web.app.extensions["accounts"]
    for _ in range(5):
        with pytest.raises(AuthError):
            accounts.login("op1", "0000", address="10.0.0.66")
    with pytest.raises(AuthError) as blocked:
        accounts.login("op1", "1234", address="10.0.0.66")
    assert blocked.value.code == "login_blocked"
    assert accounts.login("op1", "1234", address="127.0.0.1").operator == "op1"  # the kiosk itself
    assert requests.get(station_web.url + "/api/accounts", timeout=10).status_code == 401
