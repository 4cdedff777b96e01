"""The operator UI in Debian's headless Chromium against a real station process (SANE test scanner):
login on the keypad, a hồ sơ created by an admin, scanning with a reload in the middle, review actions,
documents with field errors, the finish screen; screenshots of each screen at 1280x800 and 800x480."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PIN = "2468"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def station_url(tmp_path_factory) -> Iterator[str]:
    from station.auth import Accounts
    from station.store import Store

    data = tmp_path_factory.mktemp("station")
    accounts = Accounts(Store(data / "station.db"))
    accounts.add(code="admin1", name="Trần Thị Quản Trị", role="admin", pin=PIN, actor="test")
    accounts.add(code="op1", name="Lê Văn Quét", role="operator", pin="1357", actor="test")
    port = _free_port()
    conf = data / "station.toml"
    conf.write_text(f'data_dir = "{data}"\nstation_id = "tram-ui"\nport = {port}\ndevice = "test:0"\nworkers = 1\n',
                    encoding="utf-8")
    log = open(data / "station.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "sohoa.cli", "station", "--config", str(conf)], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (data / "station.log").read_text()[-3000:]
        try:
            if requests.get(url + "/api/status", timeout=2).ok:
                break
        except requests.RequestException:
            time.sleep(0.3)
    else:
        raise AssertionError("station did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    w = page.viewport_size["width"]
    page.screenshot(path=str(SHOTS / f"{name}-{w}.png"))


def _login(page, url: str, name: str, pin: str) -> None:
    page.goto(url + "/")
    assert "/login" in page.url
    page.get_by_role("button", name=name).click()
    for digit in pin:
        page.locator(f'#keypad button[data-k="{digit}"]').click()
    page.locator("#pin-ok").click()
    page.wait_for_url(url + "/")


@pytest.mark.browser
def test_whole_hoso_in_the_browser(station_url, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="vi-VN")
    page.goto(station_url + "/login")
    _shot(page, "login")
    # a wrong PIN says so in Vietnamese
    page.get_by_role("button", name="Trần Thị Quản Trị").click()
    for digit in "0000":
        page.locator(f'#keypad button[data-k="{digit}"]').click()
    page.locator("#pin-ok").click()
    page.wait_for_selector("#login-error:not(.hidden)")
    assert "Sai mã" in page.inner_text("#login-error")
    _login(page, station_url, "Trần Thị Quản Trị", PIN)

    # start a hồ sơ by hand (no server: no work orders), with an error next to a field first
    page.get_by_role("link", name="Hồ sơ mới").click()
    page.wait_for_selector("#orders-msg:not(.hidden)")  # "not connected to the archive server"
    page.locator("#manual-toggle").click()
    form = page.locator("#manual")
    values = {"agency_id": "000.00.00.H47", "year": "2001", "notation": "160.VP", "fonds_code": "P_UBND_DN",
              "title": "Hồ sơ cấp giấy chứng nhận quyền sử dụng đất năm 2001", "start_date": "04/03/2001",
              "end_date": "31/13/2001", "expected_sheets": "3", "paper_file_code": "TTLT.K1-G05-H012.160"}
    for name, value in values.items():
        form.locator(f'[name="{name}"]').fill(value)
    for name, value in {"maintenance": "01", "mode": "01", "language": "01"}.items():
        form.locator(f'[name="{name}"]').select_option(value)
    page.locator("#manual-use").click()
    err = page.locator('label[data-field="end_date"] .err')
    err.wait_for()
    page.wait_for_function("document.querySelector('label[data-field=\"end_date\"] .err').textContent.length > 0")
    assert page.locator('label[data-field="end_date"]').get_attribute("class").endswith("bad")
    _shot(page, "new-hoso")
    form.locator('[name="end_date"]').fill("28/12/2001")
    page.locator("#manual-use").click()
    page.wait_for_selector('#presets button[data-preset="adf"]:not([disabled])')
    assert page.inner_text("#presets").count("300 dpi") == 3

    # scan on the glass, reload while it runs: nothing is lost; then one more sheet
    page.locator('#presets button[data-preset="flatbed"]').click()
    page.wait_for_url("**/scan")
    page.reload()
    page.wait_for_selector("#thumbs .thumb", timeout=60_000)
    page.wait_for_function("!document.querySelector('#scan-btn').disabled", timeout=60_000)
    assert page.locator("#preset").input_value() == "flatbed"  # the preset is remembered
    page.locator("#scan-btn").click()
    page.wait_for_function("document.querySelectorAll('#thumbs .thumb').length >= 2", timeout=60_000)
    page.wait_for_function("!document.querySelector('#scan-btn').disabled", timeout=60_000)
    _shot(page, "scan")
    assert "/ 3 tờ" in page.inner_text("#count")

    # review: rotate, delete and restore, drag to reorder
    page.locator("#to-review").click()
    page.wait_for_url("**/review")
    page.wait_for_selector("#thumbs .thumb")
    page.wait_for_function("!document.body.innerText.includes('Đang xử lý')", timeout=120_000)
    first = page.locator("#thumbs .thumb").first.get_attribute("data-page")
    page.locator('[data-act="rotate-r"]').click()
    page.wait_for_function(f"document.querySelector('.thumb[data-page=\"{first}\"] img').style.transform"
                           " === 'rotate(90deg)'")
    page.locator('[data-act="delete"]').click()
    page.wait_for_selector(f'#deleted .thumb[data-page="{first}"]')
    page.locator(f'#deleted .thumb[data-page="{first}"]').click()
    page.locator('[data-act="restore"]').click()
    page.wait_for_selector(f'#thumbs .thumb[data-page="{first}"]')
    thumbs = page.locator("#thumbs .thumb")
    src, dst = thumbs.nth(0).bounding_box(), thumbs.nth(1).bounding_box()
    page.mouse.move(src["x"] + 20, src["y"] + 40)
    page.mouse.down()
    page.mouse.move(src["x"] + 60, src["y"] + 60, steps=5)
    page.mouse.move(dst["x"] + dst["width"] - 10, dst["y"] + 40, steps=10)
    page.mouse.up()
    page.wait_for_function(f"document.querySelectorAll('#thumbs .thumb')[1].dataset.page === '{first}'")
    _shot(page, "review")
    # blank pages of the test scanner, if any, are set apart; none counts as a document page
    order = requests.get(f"{station_url}/api/status").json()
    assert order["scanner"] == "IDLE"

    # documents: split by a tap, a field error in Vietnamese, then valid metadata
    page.get_by_role("link", name="Tiếp: tài liệu").click()
    page.wait_for_selector("#strip .gap")
    page.locator("#strip .gap").nth(0).click()
    assert page.locator("#docs .doc").count() == 2
    for i, doc in enumerate(page.locator("#docs .doc").all()):
        doc.locator('[name="type_name"]').select_option("02")
        doc.locator('[name="issued_date"]').fill("04/03/2001" if i else "4/3/01")
        doc.locator('[name="organ_name"]').fill("Ủy ban nhân dân tỉnh Đồng Nai")
        doc.locator('[name="subject"]').fill(f"Quyết định số {i + 1} về việc cấp đất")
    page.locator("#save-docs").click()
    bad = page.locator("#docs .doc").first.locator('label[data-field="issued_date"] .err')
    page.wait_for_function("document.querySelector('#docs .doc label[data-field=\"issued_date\"] .err')"
                           ".textContent.length > 0")
    assert bad.inner_text()
    _shot(page, "documents")
    page.locator("#docs .doc").first.locator('[name="issued_date"]').fill("04/03/2001")
    page.locator("#save-docs").click()
    page.wait_for_selector("#toast div")
    page.reload()  # what was saved comes back
    page.wait_for_selector("#docs .doc")
    assert page.locator("#docs .doc").count() == 2
    subject = page.locator("#docs .doc").first.locator('[name="subject"]').input_value()
    assert subject == "Quyết định số 1 về việc cấp đất"

    # finish screen: summary against the expected sheets (no signing key here: the button is the next step)
    page.get_by_role("link", name="Tiếp: hoàn tất").click()
    page.wait_for_selector("#summary [data-k=sheets]")
    assert "/ 3 tờ" in page.inner_text("#summary") and "2 × Tài liệu" in page.inner_text("#summary")
    _shot(page, "finish")
    page.goto(station_url + "/")
    assert "Đang kiểm tra" in page.inner_text("ul.batches")
    _shot(page, "home")

    # the same screens at 800x480, and English
    small = browser.new_page(viewport={"width": 800, "height": 480})
    small.context.add_cookies(page.context.cookies())
    for path, name in (("/", "home"), ("/batch/1/scan", "scan"), ("/batch/1/review", "review"),
                       ("/batch/1/documents", "documents"), ("/batch/1/finish", "finish"), ("/new", "new-hoso")):
        small.goto(station_url + path)
        small.wait_for_load_state("networkidle") if path == "/" else small.wait_for_timeout(800)
        _shot(small, name)
    small.goto(station_url + "/lang/en?next=/batch/1/review")
    small.wait_for_selector("#thumbs .thumb")
    assert "Turn right" in small.inner_text(".tools")
    small.close()
    page.close()


@pytest.mark.browser
def test_login_screen_fits_800x480(station_url, browser):
    page = browser.new_page(viewport={"width": 800, "height": 480})
    page.goto(station_url + "/login")
    _shot(page, "login")
    for button in page.locator("button").all():
        box = button.bounding_box()
        assert box["height"] >= 48 and box["width"] >= 48, button.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    page.close()
