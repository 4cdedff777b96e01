"""#14.3: `next=` after login or a language switch is followed only to a same-origin path, on both UIs."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests

from protocol.urls import safe_next
from tests.support.web import ADMIN, csrf_from

HOSTILE = ["/%5Cevil.example", "/%09/evil.example", "//evil.example", "/%0a/evil.example", "https://evil.example/",
           "/%5C/evil.example", "%2F%2Fevil.example", "javascript:alert(1)", "/%0d%0aSet-Cookie:%20x=1"]


def test_rule_keeps_paths_and_refuses_other_hosts():
    assert safe_next("/batches/3?x=1") == "/batches/3?x=1"
    for bad in ("/\\evil.example", "/\t/evil.example", "//evil", "/\r\n/evil", "http://x", None, "", "x/y"):
        assert safe_next(bad, "/home") == "/home", bad


@pytest.mark.parametrize("target", HOSTILE)
def test_station_never_redirects_off_site(station_web, target):
    resp = requests.get(f"{station_web.url}/lang/en?next={target}", allow_redirects=False, timeout=10)
    assert resp.status_code == 302 and resp.headers["Location"] in ("/", station_web.url + "/"), resp.headers
    page = requests.get(f"{station_web.url}/login?next={target}", timeout=10).text
    assert 'data-next="/"' in page, page[:2000]


def test_station_keeps_a_local_path(station_web):
    resp = requests.get(f"{station_web.url}/lang/en?next={quote('/batches/3')}", allow_redirects=False, timeout=10)
    assert resp.headers["Location"].endswith("/batches/3")


def test_station_js_checks_next_before_following_it():
    from pathlib import Path

    js = (Path(__file__).resolve().parents[2] / "station/web/static/station.js").read_text(encoding="utf-8")
    assert "location.href = safeNext(box.dataset.next)" in js
    assert "box.dataset.next ||" not in js


@pytest.mark.parametrize("target", HOSTILE)
def test_server_never_redirects_off_site(archive, target):
    resp = requests.get(f"{archive.url}/lang/en?next={target}", allow_redirects=False, timeout=10)
    assert resp.status_code == 302
    assert resp.headers["Location"] in ("/", archive.url + "/"), resp.headers["Location"]
    session = requests.Session()
    page = session.get(archive.url + "/login", timeout=10)
    resp = session.post(f"{archive.url}/login?next={target}", allow_redirects=False, timeout=30,
                        data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": csrf_from(page.text)})
    assert resp.status_code == 302 and resp.headers["Location"] in ("/", archive.url + "/"), resp.headers
