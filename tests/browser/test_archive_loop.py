"""The whole rework loop (#17.5, #18.9) against real processes, on SQLite and on PostgreSQL (records and
catalogue), every step through its screens in Chromium: a station finishes a hồ sơ of two pages and the server
stores it; at 1366x768 the inspector opens the work order's lot, draws the sample, marks a defect on each page
with the keyboard and proposes return, and a second archivist (neither the inspector nor the operator) validates
it; the station's sync worker fetches the list, the home screen at 800x480 shows it, the operator reopens it and
sees each defect as a badge on the thumbnail of its page; the operator turns one page and rescans the other,
finishes again; the server stores version 2 beside version 1, linked to it in PREMIS, and serves it as the
newest; the inspector draws a new sample of the reworked lot and proposes accept, the validator validates it,
the archive signs the biên bản (version 3) and the hồ sơ is archived, which the station is told."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import requests
from test_station_ui import ARGS, CHROMIUM, SHOTS, _spawn

from tests.support.records import AGENCY
from tests.support.servers import free_port
from tests.support.wait import wait_until

PIN = "2468"
STATION_ID = "tram-loop"
SMALL = {"width": 800, "height": 480}
WIDE = {"width": 1366, "height": 768}
NOTATION = "170.VP"
ARCHIVIST = ("chi.luutru", "mat-khau-luu-tru")  # the inspector
VALIDATOR = ("truong.phong", "mat-khau-phe-duyet")  # neither the inspector nor an operator of the hồ sơ


# -- the archivist, through the acceptance screens at 1366x768 -------------------------------------------
class Archivist:
    """Two archivists' browser pages on the server; console errors, CSP refusals and failed loads collected."""

    def __init__(self, browser: Any, url: str):
        self.url = url
        self.problems: list[str] = []
        self.inspector = self._login(browser, ARCHIVIST)
        self.validator = self._login(browser, VALIDATOR)

    def _login(self, browser: Any, who: tuple[str, str]) -> Any:
        page = browser.new_page(viewport=WIDE, locale="vi-VN")
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        page.on("console", lambda m: self.problems.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
        page.on("response", lambda r: self.problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
        page.goto(self.url + "/login")
        page.fill("input[name=username]", who[0])
        page.fill("input[name=password]", who[1])
        page.click("form#login button[type=submit]")
        page.wait_for_url(self.url + "/archive/")
        return page

    def sample(self, lot: str, objid: str, size: str) -> Any:
        """/archive/lots -> the lot -> draw the sample ("Lấy mẫu") -> the inspector's screen at its first page."""
        from playwright.sync_api import expect

        page = self.inspector
        page.goto(self.url + "/archive/")
        page.click("#to-lots")
        page.click(f'#lots tr[data-lot="{lot}"] a')
        expect(page.locator(f'section.lot-hoso[data-objid="{objid}"]')).to_have_count(1)
        seed = page.locator("#seed").inner_text() if page.locator("#seed").count() else ""
        page.click("#draw")
        expect(page.locator("#seed")).not_to_have_text(seed or "-")
        expect(page.locator("#sample-size")).to_have_text(size)
        page.click("#inspect")
        expect(page.locator("#position")).to_have_text("1/2")
        return page

    def validate(self, decision_url: str, done: str) -> None:
        from playwright.sync_api import expect

        page = self.validator
        page.goto(decision_url)
        page.click("#validate")
        expect(page.locator(".flash.ok")).to_contain_text(done)
        expect(page.locator("#validated-by")).to_contain_text(VALIDATOR[0])


def _wait_image(page: Any, timeout: float = 30.0) -> None:
    """Until the sampled page's image (rendered by the server on demand) has loaded."""
    deadline = time.monotonic() + timeout
    while not page.locator("#page").evaluate("(i) => i.complete && i.naturalWidth > 0"):
        assert time.monotonic() < deadline, "the sampled page image did not load"
        page.wait_for_timeout(100)


def _mark(page: Any, where: str, note: str, key: str) -> None:
    """The note typed, then the defect's shortcut key pressed (outside the note field, keys are shortcuts)."""
    from playwright.sync_api import expect

    expect(page.locator("#where")).to_contain_text(where)
    _wait_image(page)
    page.fill("#note", note)
    page.locator("#shortcuts").click()
    page.keyboard.press(key)


def archivist_return(loop: dict, objid: str, shot: bool) -> str:
    """The inspector marks page 1 upside down (7: wrong orientation) and page 2 unreadable (3), proposes return
    (R); the validator validates. Returns the decision id."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            who = Archivist(browser, loop["server"])
            # the contract's default rule (3.3 %, at least 20 pages) takes the whole of a 2-page lot
            page = who.sample(loop["lot"], objid, "2 trang trong 2 trang của lô")
            expect(page.locator("#none")).to_have_text("Chưa ghi lỗi nào.")  # the archive's words, not the supervisor's
            _mark(page, "· 1/2", "Trang bị lộn ngược", "7")
            page.keyboard.press("ArrowRight")
            _mark(page, "· 2/2", "Chữ mờ, không đọc được", "3")
            expect(page.locator("#marked li")).to_have_count(2)
            expect(page.locator("#marked")).to_contain_text("Sai chiều trang")
            if shot:
                page.screenshot(path=str(SHOTS / "archive-loop-inspector.png"))
            page.fill("#propose input[name=note]", "Sửa 2 trang rồi gửi lại")
            page.locator("#shortcuts").click()
            page.keyboard.press("r")
            page.wait_for_url(loop["server"] + "/archive/decision/*")
            expect(page.locator("#decision-kind")).to_have_text("Trả lại để làm lại")
            decision_url = page.url
            who.validate(decision_url, "Đã trả lại hồ sơ để làm lại")
            expect(who.validator.locator("#decision-hoso .state")).to_have_text("Trả lại để làm lại")
        finally:
            browser.close()
    assert not who.problems, who.problems
    return decision_url.rsplit("/", 1)[1]


def archivist_accept(loop: dict, objid: str, shot: bool) -> None:
    """A new sample of the reworked lot, accept (A), validated: the biên bản is signed and the hồ sơ archived."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            who = Archivist(browser, loop["server"])
            page = who.sample(loop["lot"], objid, "2 trang trong 2 trang của lô")
            expect(page.locator("#marked li")).to_have_count(0)  # the first round's marks are not carried over
            expect(page.locator("#none")).to_have_text("Chưa ghi lỗi nào.")
            _wait_image(page)
            page.keyboard.press("a")
            page.wait_for_url(loop["server"] + "/archive/decision/*")
            expect(page.locator("#decision-kind")).to_have_text("Đạt")
            who.validate(page.url, "biên bản nghiệm thu bienban-nghiemthu-")
            expect(who.validator.locator("#decision-hoso .state")).to_have_text("Đã lưu trữ")
            who.validator.goto(f"{loop['server']}/archive/hoso/{objid}")
            expect(who.validator.locator("#hoso-state")).to_have_text("Đã lưu trữ")
            # v1 (returned), v2 (the rework), v3 (v2 with the signed biên bản in documentation/)
            expect(who.validator.locator("#versions tbody tr")).to_have_count(3)
            if shot:
                who.validator.screenshot(path=str(SHOTS / "archive-loop-archived.png"))
        finally:
            browser.close()
    assert not who.problems, who.problems


# -- the floor: server + station processes, on one records/catalogue backend ---------------------------
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loop(request, tmp_path_factory) -> Iterator[dict]:
    from protocol.metadata import file_code
    from server.accounts.auth import create_user
    from server.databases import open_server_db
    from sohoa.samplepages import write_sample_folder
    from station.auth import Accounts
    from station.output.keys import ensure_demo_ca
    from station.store import Store
    from tests.support.records import hoso_record

    root = tmp_path_factory.mktemp(f"loop-{request.param}")
    keys = ensure_demo_ca(root / "keys", agency_name=AGENCY)
    (root / "server").mkdir()
    with ExitStack() as stack:
        backend = ""
        target: Any = root / "server" / "server.db"
        if request.param == "postgresql":
            from tests.server.test_catalog_pg import pg_database

            target = stack.enter_context(pg_database())
            catalog = stack.enter_context(pg_database())
            backend = f'database = "{target}"\ncatalog_url = "{catalog}"\n'
        db = open_server_db(target)
        secrets = db.add_station(STATION_ID, name="Trạm làm lại")
        db.add_fonds("P_UBND_DN", "Phông Ủy ban nhân dân tỉnh Đồng Nai")
        record = hoso_record(notation=NOTATION, number_of_paper=2)
        code = file_code(record["agency_id"], record["year"], record["notation"])
        wo = db.add_workorder(fonds_code="P_UBND_DN", file_code=code, record=record, expected_sheets=2,
                              station_id=STATION_ID, priority=1)
        create_user(db, *ARCHIVIST, role="archivist")
        create_user(db, *VALIDATOR, role="archivist")
        sport, tport = free_port(), free_port()
        (root / "server.toml").write_text(f'data_dir = "{root / "server"}"\nport = {sport}\n'
                                          f'trust_roots = ["{keys.ca_pem}"]\n{backend}'
                                          # the demo agency key stands in for the archive's own signing key
                                          f'archive_signer_p12 = "{keys.agency_p12}"\n'
                                          f'archive_signer_passphrase_file = "{keys.passphrase_file}"\n',
                                          encoding="utf-8")
        server_url = f"http://127.0.0.1:{sport}"
        server = _spawn("server", root / "server.toml", root / "server.log", server_url + "/api/v1/health")
        stack.callback(lambda: (server.terminate(), server.wait(timeout=30)))
        st = root / "station"
        write_sample_folder(st / "import" / "ho-so", count=2, seed=41, dpi=200)
        write_sample_folder(st / "import" / "quet-lai", count=1, seed=43, dpi=200)
        (st / "token").write_text(secrets["token"] + "\n")
        Accounts(Store(st / "station.db")).add(code="admin1", name="Trần Thị Quản Trị", role="admin", pin=PIN,
                                               actor="test")
        (root / "station.toml").write_text(
            f'data_dir = "{st}"\nstation_id = "{STATION_ID}"\nport = {tport}\nworkers = 1\n'
            f'server_url = "{server_url}"\ntoken_file = "{st / "token"}"\nagency_name = "{AGENCY}"\n'
            f'signing_p12 = "{keys.agency_p12}"\nsigning_passphrase_file = "{keys.passphrase_file}"\n'
            'sync_interval = 1.0\n', encoding="utf-8")
        station_url = f"http://127.0.0.1:{tport}"
        station = _spawn("station", root / "station.toml", root / "station.log", station_url + "/api/status")
        stack.callback(lambda: (station.terminate(), station.wait(timeout=30)))
        stack.callback(db.close)
        yield {"station": station_url, "server": server_url, "db": db, "record": record, "wo": wo, "lot": f"wo:{wo}",
               "backend": request.param, "catalog": catalog if request.param == "postgresql"
               else root / "server" / "catalog.db", "store": root / "server" / "store", "station_dir": st}


class Station:
    """The operator's API calls that are not what this test is about (scan, split, finish)."""

    def __init__(self, url: str):
        self.url = url
        self.s = requests.Session()
        self.s.headers["Origin"] = url
        login = self.s.post(url + "/api/login", json={"operator": "admin1", "pin": PIN}, timeout=10)
        assert login.ok, login.text
        self.csrf = login.json()["csrf"]

    def call(self, method: str, path: str, **body) -> dict:
        r = self.s.request(method, self.url + path, json=body or None, headers={"X-CSRF-Token": self.csrf},
                           timeout=120)
        assert r.ok, (path, r.status_code, r.text)
        return r.json()

    def view(self, bid: int) -> dict:
        return self.s.get(f"{self.url}/api/batches/{bid}", timeout=10).json()

    def imported(self, bid: int, folder: str, count: int) -> list[dict]:
        before = {p["id"] for p in self.view(bid)["pages"]}
        self.call("POST", f"/api/batches/{bid}/scan", kind="import", folder=folder)
        self.call("POST", f"/api/batches/{bid}/wait", timeout=60)
        new = wait_until(lambda: (n := [p for p in self.view(bid)["pages"] if p["id"] not in before])
                          and len(n) == count and all(p["processed_at"] for p in n) and n, 240, "processed pages")
        self.call("POST", f"/api/batches/{bid}/review")
        return new

    def finish(self, bid: int, page_ids: list[int]) -> dict:
        for p in self.view(bid)["pages"]:
            if any(not f.get("accepted_by") for f in p.get("flags") or []):
                self.call("POST", f"/api/pages/{p['id']}/accept")
        record = {"ordinal": 1, "type_name": "02", "issued_date": "04/03/2001", "organ_name": AGENCY,
                  "subject": "Quyết định về việc cấp giấy chứng nhận", "page_ids": page_ids}
        self.call("POST", f"/api/batches/{bid}/documents", documents=[{"ordinal": 1, "record": record}])
        r = self.s.post(f"{self.url}/api/batches/{bid}/finish", json={}, headers={"X-CSRF-Token": self.csrf},
                        timeout=60)
        assert r.status_code == 202, r.text
        return wait_until(lambda: (v := self.view(bid))["state"] == "SYNCED" and v, 240, "SYNCED")


def _uploads(db: Any, batch_uid: str) -> list[dict]:
    rows = db.query("SELECT receipt FROM uploads WHERE batch_uid = ? AND state = 'accepted' ORDER BY created_at",
                    (batch_uid,))
    return [json.loads(r["receipt"]) for r in rows]


@pytest.mark.browser
def test_returned_hoso_is_fixed_on_the_station_and_stored_as_version_2(loop):
    from playwright.sync_api import sync_playwright

    from protocol.package import read_package
    from protocol.package.premis import previous_version
    from server.archive import states
    from server.databases import open_catalog
    from server.store.storage import PackageStore

    op = Station(loop["station"])
    bid = op.call("POST", "/api/batches", record=loop["record"], expected_sheets=2,
                  work_order_id=loop["wo"])["id"]
    first = op.imported(bid, "ho-so", 2)
    done = op.finish(bid, [p["id"] for p in first])
    [v1] = _uploads(loop["db"], done["uid"])
    objid, doc_id = v1["objid"], v1["file_code"] + ".1"

    SHOTS.mkdir(parents=True, exist_ok=True)
    shots = loop["backend"] == "sqlite"
    did = archivist_return(loop, objid, shots)
    marked = json.loads(loop["db"].one("SELECT defects FROM acceptance_decisions WHERE id = ?", (did,))["defects"])
    assert [(m["class"], m["kind"], m["objid"], m["doc_id"], m["page"], m["note"]) for m in marked] == [
        ("major", "wrong_orientation", objid, doc_id, 1, "Trang bị lộn ngược"),
        ("major", "unreadable", objid, doc_id, 2, "Chữ mờ, không đọc được")]
    assert states.state_of(loop["db"], [objid])[objid] == "returned"
    listed = wait_until(lambda: (r := op.s.get(op.url + "/api/rework", timeout=10).json())["rework"] and r,
                        60, "the station's rework list")
    [item] = listed["rework"]
    assert (item["batch_id"], item["status"], [d["page_id"] for d in item["defects"]]) == (
        bid, "returned", [first[0]["id"], first[1]["id"]])

    # On PostgreSQL the station has lost the hồ sơ's files meanwhile (a new SD card, a wiped disk): the same
    # button then rebuilds the batch from the stored package (#17.5) before reopening it, with new page ids.
    rebuilt = loop["backend"] == "postgresql"
    if rebuilt:
        for name in ("pages", "derived", "output", "packages"):
            shutil.rmtree(loop["station_dir"] / name, ignore_errors=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = browser.new_context(viewport=SMALL, locale="vi-VN", has_touch=True, bypass_csp=True)
        ctx.add_cookies([{"name": c.name, "value": c.value, "url": op.url} for c in op.s.cookies])
        ui = ctx.new_page()
        ui.goto(op.url + "/new")  # the work-order list shows the rework first
        ui.locator(f'#rework-home li[data-objid="{objid}"] button.reopen').wait_for()
        ui.goto(op.url + "/")
        card = ui.locator(f'#rework-home li[data-objid="{objid}"]')
        card.wait_for()
        text = card.inner_text()
        assert "Trang bị lộn ngược" in text and "Chữ mờ, không đọc được" in text and "Sửa 2 trang" in text
        assert "Sai chiều trang" in text and "Không đọc được" in text and "trang 2" in text
        reopen = card.locator("button.reopen")
        box = reopen.bounding_box()
        assert box["height"] >= 48 and box["width"] >= 48
        reopen.tap()
        ui.wait_for_url(f"**/batch/{bid}/review", timeout=120_000)
        ui.locator("#rework-review:not(.hidden)").wait_for()
        if rebuilt:  # the pages now come from the archive's PDFs: new rows, each image file back on disk
            pages = [p for p in op.view(bid)["pages"] if p["id"] not in {f["id"] for f in first}]
            assert len(pages) == 2 and all((loop["station_dir"] / p["path"]).is_file() for p in pages)
            first = pages
        for page_id, label in ((first[0]["id"], "Sai chiều trang"), (first[1]["id"], "Không đọc được")):
            badge = ui.locator(f'#thumbs .thumb[data-page="{page_id}"] .rework-badge')
            badge.wait_for()
            assert label in badge.inner_text()
        assert ui.locator("#thumbs .rework-badge").count() == 2  # only on the pages the defects concern
        assert "phiên bản 2" in ui.locator("#rework-title").inner_text()
        if shots:
            ui.screenshot(path=str(SHOTS / "station-rework.png"))
        # The fix: the upside-down page turned in the UI (the badge stays through the redraw), the unreadable
        # one rescanned and replaced.
        ui.locator(f'#thumbs .thumb[data-page="{first[0]["id"]}"]').tap()
        ui.locator('[data-act="rotate-r"]').tap()
        ui.locator('[data-act="rotate-r"]').tap()
        ui.wait_for_function(f"document.querySelector('.thumb[data-page=\"{first[0]['id']}\"] img').style.transform"
                             " === 'rotate(180deg)'")
        assert ui.locator(f'#thumbs .thumb[data-page="{first[0]["id"]}"] .rework-badge').count() == 1
        [new] = op.imported(bid, "quet-lai", 1)
        op.call("POST", f"/api/batches/{bid}/replace", old=[first[1]["id"]], new=[new["id"]])
        ui.goto(f"{op.url}/batch/{bid}/review")
        ui.locator("#rework-defects .done").nth(1).wait_for()
        assert ui.locator("#rework-defects .done").count() == 2  # both pages changed since the reopen
        browser.close()

    done = op.finish(bid, [first[0]["id"], new["id"]])
    uploads = _uploads(loop["db"], done["uid"])
    assert [u["objid"] for u in uploads] == [objid, objid]
    v2 = uploads[-1]
    assert v2["verdict"] == "accepted" and v2["sha256"] != v1["sha256"]

    store = PackageStore(loop["store"])
    versions = store.versions(objid)
    assert [(v.version, v.sha256) for v in versions] == [(1, v1["sha256"]), (2, v2["sha256"])]
    contents = read_package(versions[-1].path)
    assert contents.record_status == "REPLACEMENT" and previous_version(contents.premis_objects) == v1["sha256"]
    catalog = open_catalog(loop["catalog"])
    try:
        assert catalog.package(objid)["sha256"] == v2["sha256"]  # browse, viewer and find read the newest
    finally:
        catalog.close()
    assert states.state_of(loop["db"], [objid])[objid] == "received"  # a new acceptance round
    session = requests.Session()
    page = session.get(loop["server"] + "/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    session.post(loop["server"] + "/login", data={"username": ARCHIVIST[0], "password": ARCHIVIST[1],
                                                  "csrf_token": token}, timeout=30)
    hoso = session.get(f"{loop['server']}/archive/hoso/{objid}", timeout=60)
    assert hoso.ok and v2["sha256"] in hoso.text and v1["sha256"] in hoso.text  # both versions kept and shown

    archivist_accept(loop, objid, shots)
    assert states.state_of(loop["db"], [objid])[objid] == "archived"
    assert len(store.versions(objid)) == 3
    told = wait_until(lambda: (r := op.s.get(op.url + "/api/rework", timeout=10).json())["outcomes"]
                      and r["outcomes"][0]["state"] == "archived" and r, 60, "the station told it is archived")
    assert told["rework"] == [] and [(o["objid"], o["state"], o["version"]) for o in told["outcomes"]] == [
        (objid, "archived", 3)]
    with sync_playwright() as pw:  # the home screen says so on the hồ sơ's row
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = browser.new_context(viewport=SMALL, locale="vi-VN", bypass_csp=True)
        ctx.add_cookies([{"name": c.name, "value": c.value, "url": op.url} for c in op.s.cookies])
        ui = ctx.new_page()
        ui.goto(op.url + "/")
        pill = ui.locator(f'.batch[data-batch="{bid}"] .outcome')
        pill.wait_for()
        assert pill.inner_text() == "Đã vào kho lưu trữ chính thức"
        assert ui.locator("#rework-home").is_hidden()
        browser.close()
