"""#14.9: CSP without inline script, no framing, nosniff and a referrer policy on every answer of both UIs;
and in Chromium the pages run under that CSP without a single violation and refuse to be framed."""

from __future__ import annotations

import pytest
import requests

from tests.support.wait import wait_until
from tests.support.web import ADMIN, web_login

STATION_PATHS = ["/login", "/", "/api/status", "/api/batches", "/static/station.js", "/no-such-page", "/lang/en"]
SERVER_PATHS = ["/login", "/", "/workorders", "/api/v1/health", "/static/dashboard.js", "/no-such-page",
                "/api/v1/workorders"]


def _check(resp: requests.Response) -> None:
    h = resp.headers
    csp = h.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, (resp.url, h)
    script = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert h.get("X-Frame-Options") == "DENY"
    assert h.get("X-Content-Type-Options") == "nosniff"
    assert h.get("Referrer-Policy") == "same-origin"


def test_station_headers_everywhere(station_web):
    session = station_web.login("op1")
    for path in STATION_PATHS:
        _check(session.get(station_web.url + path, allow_redirects=False, timeout=10))
    _check(requests.get(station_web.url + "/", allow_redirects=False, timeout=10))  # anonymous redirect too


def test_server_headers_everywhere(archive):
    session = web_login(archive.url, *ADMIN)
    for path in SERVER_PATHS:
        _check(session.get(archive.url + path, allow_redirects=False, timeout=10))
    _check(requests.get(archive.url + "/", allow_redirects=False, timeout=10))


def test_no_inline_script_or_handler_in_templates():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for template in [*root.glob("station/web/templates/*.html"), *root.glob("server/web/templates/*.html")]:
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"\son[a-z]+\s*=", text), f"inline event handler in {template.name}"
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, f"inline script in {template.name}: {tag}"


@pytest.mark.browser
def test_browser_runs_pages_under_csp_and_refuses_framing(station_web, archive):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    session = web_login(archive.url, *ADMIN)
    cookies = [{"name": c.name, "value": c.value, "url": archive.url} for c in session.cookies]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context()
            context.add_cookies(cookies)
            page = context.new_page()
            violations: list[str] = []
            page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
            page.goto(station_web.url + "/login")
            page.click("#who-list button[data-code='adm1']")
            for digit in "9012":
                page.click(f"#keypad button[data-k='{digit}']")
            page.click("#keypad button[data-k='ok']")
            page.wait_for_url(station_web.url + "/")
            from tests.support.records import hoso_record

            bid = station_web.login("adm1").post(station_web.url + "/api/batches", json={"record": hoso_record()},
                                                 timeout=30).json()["id"]
            for screen in ("/new", f"/batch/{bid}/scan", f"/batch/{bid}/review", f"/batch/{bid}/documents",
                           f"/batch/{bid}/finish", "/accounts"):  # every screen's script runs under the CSP
                page.goto(station_web.url + screen)
                page.wait_for_load_state("networkidle")
            page.goto(archive.url + "/")
            page.wait_for_load_state("networkidle")
            assert violations == [], violations
            with pytest.raises(PlaywrightError, match="Content Security Policy"):  # positive control: one inline
                page.add_script_tag(content="document.title = 'inline ran'")  # script, which the probe must see
            wait_until(lambda: page.wait_for_timeout(50) or violations, 15, "the CSP violation of an inline script")
            assert page.title() != "inline ran"
            assert "sohoa" in page.content().lower()  # the frame probe below sees the dashboard when not framed
            # A hostile page (here: a data: URL, another origin) framing the dashboard gets nothing.
            framer = context.new_page()
            blocked: list[str] = []
            framer.on("console", lambda m: blocked.append(m.text))
            framer.set_content(f'<iframe id="f" src="{archive.url}/"></iframe><iframe src="{station_web.url}/login">'
                               "</iframe>")
            wait_until(lambda: framer.wait_for_timeout(50) or sum("frame-ancestors" in m or "Refused to display" in m
                                                                   for m in blocked) >= 2, 15, "both frames refused")
            frames = [f for f in framer.frames if f != framer.main_frame]
            for frame in frames:
                assert "sohoa" not in (frame.content() or "").lower(), frame.url
            assert sum("frame-ancestors" in m or "Refused to display" in m for m in blocked) >= 2, blocked
        finally:
            browser.close()
