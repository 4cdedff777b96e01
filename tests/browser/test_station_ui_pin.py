"""The signing-PIN prompt in the browser: a station process whose key is on a PKCS#11 token (SoftHSM2) and
no PIN file. The finish button opens a keypad; a wrong PIN is refused in Vietnamese and nothing starts;
the right PIN signs and the hồ sơ is sealed. The PIN appears in no log and in no database."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.browser.test_station_ui import ARGS, CHROMIUM, SHOTS
from tests.station.test_output_signing_pkcs11 import KEY, PIN, TOKEN, token  # noqa: F401 - fixture
from tests.support.records import hoso_record
from tests.support.servers import StationProcess
from tests.support.wait import wait_until


@pytest.mark.browser
def test_finish_asks_for_the_token_pin(tmp_path: Path, token):  # noqa: F811
    from playwright.sync_api import sync_playwright

    from station.auth import Accounts
    from station.store import Store

    module, _ca = token
    data = tmp_path / "station"
    data.mkdir()
    Accounts(Store(data / "station.db")).add(code="adm1", name="Quản Trị", role="admin", pin="2468", actor="test")
    Accounts(Store(data / "station.db")).add(code="op1", name="Lê Văn Quét", role="operator", pin="1357",
                                             actor="test")
    extra = f'agency_name = "Sở Nội vụ"\npkcs11_module = "{module}"\npkcs11_token = "{TOKEN}"\npkcs11_key = "{KEY}"\n'
    # SOFTHSM2_CONF (set by the fixture) reaches the station through its env
    with StationProcess(data, extra_config=extra) as station:
        url, log = station.url, station.log
        # a scanned, reviewed hồ sơ with one document, through the API the UI uses
        tok = station.login("op1", "1357")
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {tok}"
        adm = station.login("adm1", "2468")
        bid = requests.post(url + "/api/batches", json={"record": hoso_record()}, timeout=10,
                            headers={"Authorization": f"Bearer {adm}"}).json()["id"]  # typed in: an admin's
        s.post(f"{url}/api/batches/{bid}/scan", json={"kind": "sane", "request": {"source": "flatbed", "dpi": 300}})
        assert s.post(f"{url}/api/batches/{bid}/wait", json={"timeout": 60}).json()["idle"]
        s.post(f"{url}/api/batches/{bid}/review")
        pages = wait_until(lambda: (p := s.get(f"{url}/api/batches/{bid}").json()["pages"])[0]["processed_at"] and p,
                           60, "the page processed", interval=0.3)
        s.post(f"{url}/api/pages/{pages[0]['id']}/accept")
        doc = {"ordinal": 1, "type_name": "02", "issued_date": "28/02/2001", "organ_name": "UBND tỉnh Đồng Nai",
               "subject": "Quyết định về việc cấp đất", "page_ids": [pages[0]["id"]]}
        assert s.post(f"{url}/api/batches/{bid}/documents?check=1",
                      json={"documents": [{"ordinal": 1, "record": doc}]}).ok

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            # bypass_csp: wait_for_function evals its predicate; tests/security/test_headers.py keeps the CSP on
            page = browser.new_page(viewport={"width": 800, "height": 480}, locale="vi-VN", bypass_csp=True)
            page.context.add_cookies([{"name": "sohoa_session", "value": tok, "url": url}])
            page.goto(f"{url}/batch/{bid}/finish")
            page.locator("#finish-btn").click()
            page.wait_for_selector("#sign-pin-box:not(.hidden)")
            for digit in "000000":
                page.locator(f'#sign-keypad button[data-k="{digit}"]').click()
            assert page.inner_text("#sign-pin-dots") == "••••••"
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "finish-pin-800.png"))
            page.locator("#sign-ok").click()
            page.wait_for_selector("#toast div.err")
            assert "Sai mã PIN" in page.inner_text("#toast")
            assert s.get(f"{url}/api/batches/{bid}").json()["state"] == "REVIEW"
            for digit in PIN:
                page.locator(f'#sign-keypad button[data-k="{digit}"]').click()
            page.locator("#sign-ok").click()
            page.wait_for_selector("#sign-pin-box.hidden", state="attached")
            page.wait_for_function("document.querySelector('#batch-state').textContent === 'Chờ đồng bộ'",
                                   timeout=120_000)
            browser.close()
        assert "signed " in log.read_text(), "positive control: the log the probe reads holds the signing"
        assert PIN not in log.read_text() and "000000" not in log.read_text()
        assert b'"title"' in b"".join(db.read_bytes() for db in data.glob("station.db*"))  # the probe sees rows
        for db in data.glob("station.db*"):  # the database and its WAL
            assert PIN.encode() not in db.read_bytes(), db
