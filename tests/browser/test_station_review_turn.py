"""A page the operator turns in review, then Finish (which re-derives it with the turn): reopened, the review
screen shows exactly the stored derivative, not the derivative turned once more (it was shown 90° off)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import requests
from test_station_ui import ARGS, CHROMIUM, _spawn

from tests.support.servers import free_port
from tests.support.wait import wait_until

AGENCY = "Ủy ban nhân dân tỉnh Đồng Nai"
PIN = "2468"


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    from sohoa.samplepages import write_sample_folder
    from station.auth import Accounts
    from station.output.keys import ensure_demo_ca
    from station.store import Store

    root = tmp_path_factory.mktemp("turn")
    keys = ensure_demo_ca(root / "keys", agency_name=AGENCY)
    st = root / "station"
    write_sample_folder(st / "import" / "trang", count=1, seed=23, dpi=200)
    Accounts(Store(st / "station.db")).add(code="admin1", name="Trần Thị Quản Trị", role="admin", pin=PIN,
                                           actor="test")
    port = free_port()
    (root / "station.toml").write_text(
        f'data_dir = "{st}"\nport = {port}\nworkers = 1\nagency_name = "{AGENCY}"\n'
        f'signing_p12 = "{keys.agency_p12}"\nsigning_passphrase_file = "{keys.passphrase_file}"\n',
        encoding="utf-8",
    )
    url = f"http://127.0.0.1:{port}"
    proc = _spawn("station", root / "station.toml", root / "station.log", url + "/api/status")
    yield {"url": url, "data": st}
    proc.terminate()
    proc.wait(timeout=30)


def _api(s: requests.Session, csrf: str, method: str, path: str, **body) -> dict:
    r = s.request(method, path, json=body or None, headers={"X-CSRF-Token": csrf}, timeout=120)
    assert r.ok, (path, r.status_code, r.text)
    return r.json()


def _wait(fn, timeout: float = 180.0):
    return wait_until(fn, timeout, "the station", interval=0.3)


@pytest.mark.browser
def test_turned_page_after_finish_shows_as_stored(station):
    from playwright.sync_api import sync_playwright

    from tests.support.records import hoso_record

    url = station["url"]
    s = requests.Session()
    s.headers["Origin"] = url
    login = s.post(url + "/api/login", json={"operator": "admin1", "pin": PIN}, timeout=10)
    assert login.ok, login.text
    csrf = login.json()["csrf"]
    batch = _api(s, csrf, "POST", url + "/api/batches", record=hoso_record(), expected_sheets=1)
    bid = batch["id"]
    _api(s, csrf, "POST", f"{url}/api/batches/{bid}/scan", kind="import", folder="trang")
    view = _wait(lambda: (v := s.get(f"{url}/api/batches/{bid}", timeout=10).json())["pages"]
                 and all(p["processed_at"] for p in v["pages"]) and v)
    [page] = view["pages"]
    _api(s, csrf, "POST", f"{url}/api/batches/{bid}/review")
    _api(s, csrf, "POST", f"{url}/api/pages/{page['id']}/accept")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="vi-VN", bypass_csp=True)
        ctx.add_cookies([{"name": c.name, "value": c.value, "url": url} for c in s.cookies])
        ui = ctx.new_page()
        ui.goto(f"{url}/batch/{bid}/review")
        ui.locator(f'#thumbs .thumb[data-page="{page["id"]}"]').click()
        ui.locator('[data-act="rotate-r"]').click()  # the operator turns it a quarter right
        ui.wait_for_function(f"document.querySelector('.thumb[data-page=\"{page['id']}\"] img').style.transform"
                             " === 'rotate(90deg)'")

        record = {"ordinal": 1, "type_name": "02", "issued_date": "04/03/2001", "organ_name": AGENCY,
                  "subject": "Quyết định về việc cấp giấy chứng nhận", "page_ids": [page["id"]]}
        _api(s, csrf, "POST", f"{url}/api/batches/{bid}/documents", documents=[{"ordinal": 1, "record": record}])
        r = s.post(f"{url}/api/batches/{bid}/finish", json={}, headers={"X-CSRF-Token": csrf}, timeout=60)
        assert r.status_code == 202, r.text
        done = _wait(lambda: (v := s.get(f"{url}/api/batches/{bid}", timeout=10).json())["state"] == "SEALED" and v,
                     timeout=300)
        [stored] = done["pages"]
        assert stored["processing"]["manual_rotation"] == 90 and stored["derivative_path"].endswith("-r90.jpg")
        derivative = cv2.imread(str(station["data"] / stored["derivative_path"]), cv2.IMREAD_GRAYSCALE)

        ui.goto(f"{url}/batch/{bid}/review")  # the hồ sơ reopened
        ui.locator(f'#thumbs .thumb[data-page="{page["id"]}"]').click()
        big = ui.locator("#big")
        ui.wait_for_function("document.querySelector('#big').naturalWidth > 0 && "
                             "document.querySelector('#big').src.includes('processed=1')")
        natural = big.evaluate("(i) => [i.naturalWidth, i.naturalHeight]")
        assert natural == [derivative.shape[1], derivative.shape[0]], "the stored derivative is what is loaded"
        box = big.bounding_box()
        shot = cv2.imdecode(np.frombuffer(big.screenshot(), np.uint8), cv2.IMREAD_GRAYSCALE)
        browser.close()
    # shown as stored: same shape on screen (landscape after the turn), and the pixels match it, not it turned
    assert (box["width"] > box["height"]) == (derivative.shape[1] > derivative.shape[0])
    small = cv2.resize(derivative, (shot.shape[1], shot.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32)
    seen = shot.astype(np.float32)

    def corr(a, b) -> float:
        a, b = a - a.mean(), b - b.mean()
        return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))

    same, turned = corr(seen, small), corr(seen, cv2.rotate(small, cv2.ROTATE_180))
    assert same > 0.6 and same > turned + 0.2, (same, turned)
