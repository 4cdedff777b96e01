"""The operator UI in Debian's headless Chromium against real processes: the archive server (work orders,
ingest, receipt) and the station (SANE test scanner in feeder mode, processing, OCR, PDF/A, signature,
package, sync). One whole hồ sơ from the keypad login to the server's receipt: a work order picked from
the server's list, a reload in the middle of a feeder scan, pages imported, review actions, documents split
with field errors and OCR suggestions, finish. Screenshots of each screen at 1280x800 and 800x480."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.servers import free_port
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PIN = "2468"
AGENCY = "Ủy ban nhân dân tỉnh Đồng Nai"
STATION_ID = "tram-ui"
ADF_SHEETS, IMPORTED = 10, 2  # the test backend's feeder holds 10 sheets
IMPORT_SEED = 11
RECORD = {"agency_id": "000.00.00.H47", "year": 2001, "notation": "160.VP", "fonds_code": "P_UBND_DN",
          "title": "Hồ sơ về việc cấp giấy chứng nhận quyền sử dụng đất tại huyện Long Thành năm 2001",
          "maintenance": "01", "mode": "01", "language": "01", "start_date": "04/03/2001",
          "end_date": "28/12/2001", "paper_file_code": "TTLT.K1-G05-H012.160", "format": "02",
          "agency_name": AGENCY}


_free_port = free_port

def _spawn(name: str, conf: Path, log: Path, health: str) -> subprocess.Popen:
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sohoa.cli", name, "--config", str(conf)], cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    def answers() -> bool:
        assert proc.poll() is None, f"{name} exited {proc.returncode}: {log.read_text()[-3000:]}"
        return requests.get(health, timeout=2).ok

    wait_until(answers, 60, f"{name} to start", interval=0.2)
    return proc


@pytest.fixture(scope="module")
def floor(tmp_path_factory) -> Iterator[dict]:
    """The archive server (one station account, fonds, work order) and the station, as two processes."""
    from protocol.metadata import file_code
    from server.records.db import ServerDB
    from sohoa.samplepages import write_sample_folder
    from station.auth import Accounts
    from station.output.keys import ensure_demo_ca
    from station.store import Store

    root = tmp_path_factory.mktemp("floor")
    keys = ensure_demo_ca(root / "keys", agency_name=AGENCY)
    (root / "server").mkdir()
    db = ServerDB(root / "server" / "server.db")
    secrets = db.add_station(STATION_ID, name="Trạm số hóa giao diện")
    db.add_fonds("P_UBND_DN", "Phông Ủy ban nhân dân tỉnh Đồng Nai")
    code = file_code(RECORD["agency_id"], RECORD["year"], RECORD["notation"])
    db.add_workorder(fonds_code="P_UBND_DN", file_code=code, record=RECORD, expected_sheets=ADF_SHEETS + IMPORTED,
                     station_id=STATION_ID, priority=1)
    sport, tport = free_port(), free_port()
    (root / "server.toml").write_text(f'data_dir = "{root / "server"}"\nport = {sport}\n'
                                      f'trust_roots = ["{keys.ca_pem}"]\n', encoding="utf-8")
    server_url = f"http://127.0.0.1:{sport}"
    server = _spawn("server", root / "server.toml", root / "server.log", server_url + "/api/v1/health")

    st = root / "station"
    write_sample_folder(st / "import" / "van-ban-kem", count=IMPORTED, seed=IMPORT_SEED, dpi=300)
    (st / "token").write_text(secrets["token"] + "\n")
    accounts = Accounts(Store(st / "station.db"))
    accounts.add(code="admin1", name="Trần Thị Quản Trị", role="admin", pin=PIN, actor="test")
    accounts.add(code="op1", name="Lê Văn Quét", role="operator", pin="1357", actor="test")
    (root / "station.toml").write_text(
        f'data_dir = "{st}"\nstation_id = "{STATION_ID}"\nport = {tport}\ndevice = "test:0"\nworkers = 1\n'
        f'server_url = "{server_url}"\ntoken_file = "{st / "token"}"\nagency_name = "{AGENCY}"\n'
        f'signing_p12 = "{keys.agency_p12}"\nsigning_passphrase_file = "{keys.passphrase_file}"\n'
        'sync_interval = 1.0\n', encoding="utf-8")
    station_url = f"http://127.0.0.1:{tport}"
    try:
        station = _spawn("station", root / "station.toml", root / "station.log", station_url + "/api/status")
    except AssertionError:
        server.terminate()
        raise
    yield {"station": station_url, "server": server_url, "root": root, "procs": (station, server)}
    for proc in (station, server):
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
    page.screenshot(path=str(SHOTS / f"{name}-{page.viewport_size['width']}.png"))


def _keypad(page, digits: str) -> None:
    for digit in digits:
        page.locator(f'#keypad button[data-k="{digit}"]').click()
    page.locator("#pin-ok").click()


def _view(page) -> dict:
    return page.evaluate("fetch('/api/batches/' + document.body.dataset.batch).then((r) => r.json())")


@pytest.mark.browser
def test_whole_hoso_from_login_to_the_servers_receipt(floor, browser):
    from sohoa.samplepages import sample_metadata

    url = floor["station"]
    # bypass_csp: Playwright's wait_for_function evaluates its predicate with eval(), which the page's CSP forbids
    # (rightly); tests/security/test_headers.py runs the UIs with the CSP on.
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="vi-VN", bypass_csp=True)
    page.goto(url + "/")
    assert "/login" in page.url
    _shot(page, "login")
    page.get_by_role("button", name="Trần Thị Quản Trị").click()
    _keypad(page, "0000")  # a wrong PIN says so in Vietnamese
    page.wait_for_selector("#login-error:not(.hidden)")
    assert "Sai mã" in page.inner_text("#login-error")
    _keypad(page, PIN)
    page.wait_for_url(url + "/")

    # the server's work order; the hand-made form (admin) shows its errors next to the field
    page.get_by_role("link", name="Hồ sơ mới").click()
    order = page.locator("#orders button[data-wo]")
    order.wait_for()
    assert "Long Thành" in order.inner_text() and f"{ADF_SHEETS + IMPORTED} tờ" in order.inner_text()
    page.locator("#manual-toggle").click()
    page.locator('#manual [name="end_date"]').fill("31/13/2001")
    page.locator("#manual-use").click()
    page.wait_for_function("document.querySelector('label[data-field=\"end_date\"] .err').textContent.length > 0")
    page.locator("#manual-toggle").click()
    order.click()
    page.wait_for_selector('#presets button[data-preset="adf"]:not([disabled])')
    _shot(page, "new-hoso")

    # the feeder scan; a reload while it runs loses nothing and shows it still running
    page.locator('#presets button[data-preset="adf"]').click()
    page.wait_for_url("**/scan")
    assert requests.get(url + "/api/status", timeout=5).json()["scanner"] == "SCANNING", "scan ended before reload"
    page.reload()
    page.wait_for_selector("#thumbs .thumb", timeout=30_000)
    page.wait_for_function(f"document.querySelectorAll('#thumbs .thumb').length === {ADF_SHEETS}", timeout=60_000)
    page.wait_for_function("!document.querySelector('#scan-btn').disabled", timeout=30_000)
    assert page.locator("#preset").input_value() == "adf"  # the preset is remembered
    # two pages made elsewhere, imported into the same hồ sơ
    page.locator("#preset").select_option("import")
    page.locator("#scan-btn").click()
    page.get_by_role("button", name="van-ban-kem").click()
    page.wait_for_function(f"document.querySelectorAll('#thumbs .thumb').length === {ADF_SHEETS + IMPORTED}",
                           timeout=60_000)
    page.wait_for_function("!document.querySelector('#scan-btn').disabled", timeout=30_000)
    assert f"{ADF_SHEETS + IMPORTED} / {ADF_SHEETS + IMPORTED} tờ" in page.inner_text("#count")
    page.wait_for_function("!document.body.innerText.includes('Đang xử lý')", timeout=120_000)
    page.wait_for_function("Array.from(document.images).every((i) => i.complete && i.naturalWidth > 0)")
    _shot(page, "scan")

    # review: every QC flag accepted, rotate, delete and restore, drag to reorder
    page.locator("#to-review").click()
    page.wait_for_url("**/review")
    page.wait_for_selector("#thumbs .thumb")
    page.wait_for_function("!document.body.innerText.includes('Đang xử lý')", timeout=120_000)
    for _ in range(ADF_SHEETS + IMPORTED):
        flagged = page.locator("#thumbs .thumb.flagged")
        left = flagged.count()
        if not left:
            break
        flagged.first.click()
        page.locator('[data-act="accept"]').click()
        page.wait_for_function("(n) => document.querySelectorAll('#thumbs .thumb.flagged').length < n", arg=left)
    assert _view(page)["unresolved"] == []
    first = page.locator("#thumbs .thumb").first.get_attribute("data-page")
    page.locator(f'#thumbs .thumb[data-page="{first}"]').click()
    page.locator('[data-act="rotate-r"]').click()
    page.wait_for_function(f"document.querySelector('.thumb[data-page=\"{first}\"] img').style.transform"
                           " === 'rotate(90deg)'")
    page.locator('[data-act="rotate-l"]').click()
    page.locator('[data-act="delete"]').click()
    page.wait_for_selector(f'#deleted .thumb[data-page="{first}"]')
    page.locator(f'#deleted .thumb[data-page="{first}"]').click()
    page.locator('[data-act="restore"]').click()
    page.wait_for_selector(f'#thumbs .thumb[data-page="{first}"]')
    # the list scrolled down to the deleted pages. Scrolled and measured in one step inside the page: a live update
    # may replace the thumbnails between two Playwright calls (a box of None, "not attached to the DOM"); the new
    # ones sit where the old ones were, and once the finger is down no update replaces them
    src, dst = page.evaluate("""() => {
        const t = document.querySelectorAll('#thumbs .thumb');
        t[0].scrollIntoView({block: 'center'});
        return [0, 1].map((i) => { const r = t[i].getBoundingClientRect();
                                   return {x: r.x, y: r.y, width: r.width, height: r.height}; });
    }""")
    page.mouse.move(src["x"] + 20, src["y"] + 40)
    page.mouse.down()
    page.mouse.move(src["x"] + 60, src["y"] + 60, steps=5)
    page.mouse.move(dst["x"] + dst["width"] - 10, dst["y"] + 40, steps=10)
    page.mouse.up()
    page.wait_for_function(f"document.querySelectorAll('#thumbs .thumb')[1].dataset.page === '{first}'")
    page.locator("#thumbs .thumb").nth(3).click()
    _shot(page, "review")

    # documents: split before the imported pages; OCR suggestions for the imported document; field errors
    page.get_by_role("link", name="Tiếp: tài liệu").click()
    page.wait_for_selector("#strip .gap")
    imported = [p["id"] for p in _view(page)["pages"] if p["source"] == "import"]
    assert len(imported) == IMPORTED
    page.locator(f'#strip .gap[data-before="{imported[0]}"]').click()
    docs = page.locator("#docs .doc")
    assert docs.count() == 2
    docs.nth(1).locator(".sugg-btn").click()
    docs.nth(1).locator(".chip.pri").click(timeout=90_000)  # "use all" once Tesseract has read the page
    truth = sample_metadata(IMPORT_SEED)
    for name in ("code_number", "code_notation", "issued_date", "subject"):
        assert docs.nth(1).locator(f'[name="{name}"]').input_value() == truth[name], name
    docs.nth(0).locator('[name="issued_date"]').fill("4/3/01")
    docs.nth(0).locator('[name="subject"]').fill("Đơn đề nghị cấp giấy chứng nhận quyền sử dụng đất")
    for i in range(2):
        docs.nth(i).locator('[name="type_name"]').select_option(truth["type_name"] if i else "02")
        docs.nth(i).locator('[name="organ_name"]').fill(AGENCY)
    page.locator("#save-docs").click()
    page.wait_for_function("document.querySelector('#docs .doc label[data-field=\"issued_date\"] .err')"
                           ".textContent.length > 0")
    _shot(page, "documents")
    docs.nth(0).locator('[name="issued_date"]').fill("04/03/2001")
    page.locator("#save-docs").click()
    page.wait_for_selector("#toast div")
    page.reload()  # what was saved comes back
    page.wait_for_selector("#docs .doc")
    assert page.locator("#docs .doc").count() == 2
    assert page.locator("#docs .doc").nth(1).locator('[name="subject"]').input_value() == truth["subject"]

    # finish: OCR, PDF/A, signature, package, sync; the server's receipt comes back to this screen
    page.get_by_role("link", name="Tiếp: hoàn tất").click()
    page.wait_for_selector("#summary [data-k=sheets]")
    assert f"{ADF_SHEETS + IMPORTED} / {ADF_SHEETS + IMPORTED} tờ" in page.inner_text("#summary")
    assert "2 × Tài liệu" in page.inner_text("#summary")
    page.locator("#finish-btn").click()
    page.wait_for_selector("#receipt:not(.hidden)", timeout=150_000)
    assert "Máy chủ lưu trữ đã kiểm tra và lưu" in page.inner_text("#receipt")
    assert page.inner_text("#batch-state") == "Đã lưu trữ"
    _shot(page, "finish")
    page.goto(url + "/")
    assert "Đã lưu trữ" in page.inner_text("ul.batches")
    _shot(page, "home")
    # the server has it: verified, stored, catalogued
    found = requests.get(floor["server"] + "/api/v1/health", timeout=5)
    assert found.ok

    # the same screens at 800x480, then English
    small = browser.new_page(viewport={"width": 800, "height": 480}, locale="vi-VN", bypass_csp=True)
    small.context.add_cookies(page.context.cookies())
    for path, name in (("/", "home"), ("/new", "new-hoso"), ("/batch/1/scan", "scan"), ("/batch/1/review", "review"),
                       ("/batch/1/documents", "documents"), ("/batch/1/finish", "finish")):
        small.goto(url + path)
        small.wait_for_load_state("networkidle") if path in ("/", "/new") else small.wait_for_timeout(900)
        _shot(small, name)
        assert small.evaluate("document.documentElement.scrollWidth") <= 800, f"{name} scrolls sideways"
    small.goto(url + "/lang/en?next=/batch/1/review")
    small.wait_for_selector("#thumbs .thumb")
    assert "Turn right" in small.inner_text(".tools")
    small.close()
    page.close()


@pytest.mark.browser
def test_login_screen_fits_800x480(floor, browser):
    page = browser.new_page(viewport={"width": 800, "height": 480}, bypass_csp=True)
    page.goto(floor["station"] + "/login")
    _shot(page, "login")
    for button in page.locator("button").all():
        box = button.bounding_box()
        assert box["height"] >= 48 and box["width"] >= 48, button.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    page.close()
