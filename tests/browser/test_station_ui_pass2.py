"""The operator's station, second pass (issue #18), in headless Chromium at 800x480 against a real station
and archive server (the `floor` of test_station_ui): dates typed without slashes, the supervisor's in-page
PIN dialog and keypads that do not move, the checklist before finishing, the on-screen keyboard with Telex
and VNI, flags accepted by kind, full-screen review and selection, the scan screen's feeder and double-feed
notices, finished work orders hidden, and one whole hồ sơ finished at the first try."""

from __future__ import annotations

import time

import pytest
import requests

from tests.browser.test_station_ui import PIN, RECORD, SHOTS, browser, floor  # noqa: F401 - fixtures

SMALL = {"width": 800, "height": 480}


def _login(url: str, who: str = "op1", pin: str = "1357") -> tuple[requests.Session, str]:
    tok = requests.post(url + "/api/login", json={"operator": who, "pin": pin}, timeout=10).json()["token"]
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {tok}"
    return s, tok


def _page(browser, url: str, tok: str, *, touch: bool = False):  # noqa: F811
    ctx = browser.new_context(viewport=SMALL, locale="vi-VN", has_touch=touch)
    ctx.add_cookies([{"name": "sohoa_session", "value": tok, "url": url}])
    return ctx.new_page()


def _scanned_batch(url: str, s: requests.Session, *, source: str = "flatbed", expected: int | None = None,
                   notation: str = "161.VP") -> int:
    """A hồ sơ with pages from the SANE test scanner, processed, in review."""
    rec = {**RECORD, "notation": notation}
    bid = s.post(url + "/api/batches", json={"record": rec, "work_order_id": "WO-T" + notation,
                                             "expected_sheets": expected}).json()["id"]
    r = s.post(f"{url}/api/batches/{bid}/scan", json={"kind": "sane", "request": {"source": source, "dpi": 300}})
    assert r.status_code == 202, r.text
    assert s.post(f"{url}/api/batches/{bid}/wait", json={"timeout": 120}).json()["idle"]
    s.post(f"{url}/api/batches/{bid}/review")
    deadline = time.monotonic() + 120
    while True:
        pages = s.get(f"{url}/api/batches/{bid}").json()["pages"]
        if all(p["processed_at"] for p in pages):
            break
        assert time.monotonic() < deadline, "pages not processed"
        time.sleep(0.3)
    assert pages
    return bid


def _boxes(page, selector: str) -> list[tuple]:
    return [tuple(round(v, 1) for v in b.bounding_box().values()) for b in page.locator(selector).all()]


def _targets_ok(page, root: str) -> None:
    for button in page.locator(root + " button:visible").all():
        box = button.bounding_box()
        assert box["height"] >= 48 and box["width"] >= 48, button.inner_text()


# -- 2. dates -------------------------------------------------------------------------------------------
@pytest.mark.browser
def test_dates_typed_without_slashes_are_normalised(floor, browser):  # noqa: F811
    url = floor["station"]
    s, tok = _login(url)
    bid = _scanned_batch(url, s, notation="162.VP")
    page = _page(browser, url, tok)
    page.goto(f"{url}/batch/{bid}/documents")
    page.wait_for_selector("#docs .doc")
    field = page.locator('#docs .doc [name="issued_date"]')
    for typed in ("01012024", "1/1/2024", "01-01-2024", "1.1.2024"):
        field.fill("")
        field.type(typed)
        field.press("Tab")  # leaving the field shows the normalised date
        assert field.input_value() == "01/01/2024", typed
    hoso_end = page.locator('#hoso [name="end_date"]')
    hoso_end.fill("31122001")
    hoso_end.press("Tab")
    assert hoso_end.input_value() == "31/12/2001"
    page.wait_for_function("document.querySelector('#save-state').textContent.length > 0")
    assert s.get(f"{url}/api/batches/{bid}").json()["record"]["end_date"] == "31/12/2001"  # saved normalised
    hoso_end.fill("4/3/01")  # a two-digit year is not guessed: the field says what is wrong
    hoso_end.press("Tab")
    page.wait_for_function("document.querySelector('#hoso label[data-field=\"end_date\"] .err').textContent.length > 0")
    page.context.close()


# -- 8. supervisor override in the page; keypads that stay put ----------------------------------------------
@pytest.mark.browser
def test_supervisor_override_is_an_in_page_pin_dialog(floor, browser):  # noqa: F811
    url = floor["station"]
    s, tok = _login(url)
    bid = _scanned_batch(url, s, notation="163.VP")
    assert s.get(f"{url}/api/batches/{bid}").json()["unresolved"], "the test scanner's page should carry a flag"
    page = _page(browser, url, tok)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{url}/batch/{bid}/review")
    page.wait_for_selector("#thumbs .thumb")
    page.locator("#override").click()
    page.wait_for_selector("#override-dialog:not(.hidden)")
    _targets_ok(page, "#override-dialog")
    keys = _boxes(page, "#override-keypad button")
    page.locator("#override-reasons button").first.click()
    page.get_by_role("button", name="Trần Thị Quản Trị").click()
    for digit in "999999999999":  # a long PIN, then a wrong one: the keypad does not move
        page.locator(f'#override-keypad button[data-k="{digit}"]').click()
        assert _boxes(page, "#override-keypad button") == keys
    page.locator("#override-ok").click()
    page.wait_for_function("document.querySelector('#override-error').textContent.includes('Sai mã')")
    assert _boxes(page, "#override-keypad button") == keys
    assert not s.get(f"{url}/api/batches/{bid}").json()["overridden"]
    for digit in PIN:
        page.locator(f'#override-keypad button[data-k="{digit}"]').click()
    page.locator("#override-ok").click()
    page.wait_for_selector("#override-dialog.hidden", state="attached")
    assert s.get(f"{url}/api/batches/{bid}").json()["overridden"]
    audit = requests.get(f"{url}/api/audit?batch={bid}", timeout=10,
                         headers={"Authorization": "Bearer " + _login(url, "admin1", PIN)[1]}).json()["audit"]
    assert any(a["action"] == "qc.override" and a["actor"] == "admin1" for a in audit)
    assert dialogs == []  # no browser prompt()
    page.context.close()


@pytest.mark.browser
def test_login_keypad_does_not_move_between_taps(floor, browser):  # noqa: F811
    page = browser.new_page(viewport=SMALL, locale="vi-VN")
    page.goto(floor["station"] + "/login")
    page.get_by_role("button", name="Lê Văn Quét").click()
    keys = _boxes(page, "#keypad button")
    for digit in "123456789012":
        page.locator(f'#keypad button[data-k="{digit}"]').click()
        assert _boxes(page, "#keypad button") == keys
    page.locator("#pin-ok").click()
    page.wait_for_selector("#login-error:not(.hidden)")
    assert _boxes(page, "#keypad button") == keys
    page.close()
