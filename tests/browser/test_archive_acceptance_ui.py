"""Acceptance (nghiệm thu) in Debian's headless Chromium at 1366×768, CSP on: the inspector draws a lot's sample,
steps through the sampled pages with the keyboard, marks two defects with the shortcuts and proposes return; the
same person's validation is refused with the Vietnamese reason; another archivist validates. Then a second lot
is accepted and its biên bản, taken from the new stored version, passes the PDF/A check and the signature
check. Real packages sent by the station's sync client. Screenshots in docs/screenshots/archive-acceptance-*.png."""

from __future__ import annotations

import json
import re
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "server"))
from acceptance_support import LOT_ACCEPT, LOT_RETURN, VALIDATOR, acceptance  # noqa: E402,F401 - fixture
from archive_support import three_page_pdf  # noqa: E402,F401 - fixture

from tests.support.web import ARCHIVIST  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "docs" / "screenshots"


def _login(browser, url: str, who: tuple[str, str], problems: list[str]):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.on("pageerror", lambda e: problems.append(str(e)))
    # CSP refusals and script errors show as console errors; failed loads are judged by their response
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400
            and not r.url.endswith("/favicon.ico") and not (r.status == 409 and r.url.endswith("/validate"))
            else None)
    page.goto(url + "/login")
    page.fill("input[name=username]", who[0])
    page.fill("input[name=password]", who[1])
    page.click("form#login button[type=submit]")
    page.wait_for_url(url + "/archive/")
    return page


def _wait_image(page, timeout: float = 30.0) -> None:
    """Until the page image (rendered on the server on demand) has loaded; a locator call, which CSP allows."""
    deadline = time.monotonic() + timeout
    while not page.locator("#page").evaluate("(i) => i.complete && i.naturalWidth > 0"):
        assert time.monotonic() < deadline, "the sampled page image did not load"
        page.wait_for_timeout(100)


@pytest.mark.browser
def test_inspect_return_refuse_validate_and_accept(acceptance, tmp_path):  # noqa: F811 - fixture
    from playwright.sync_api import expect, sync_playwright

    from protocol.package import read_package
    from protocol.pdfa_check import check_pdfa
    from protocol.signatures import validate_pdf_signatures
    from server.archive import states

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    SHOTS.mkdir(parents=True, exist_ok=True)
    url, db = acceptance.url, acceptance.context.db
    objid = acceptance.objids[LOT_RETURN]
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = _login(browser, url, ARCHIVIST, problems)
            page.click("#to-lots")
            expect(page.locator(f'#lots tr[data-lot="{LOT_RETURN}"]')).to_contain_text("Đã tiếp nhận")
            page.screenshot(path=str(SHOTS / "archive-acceptance-lots.png"))
            page.click(f'#lots tr[data-lot="{LOT_RETURN}"] a')
            expect(page.locator(f'section[data-objid="{objid}"] tr.ok')).to_have_count(8)  # every gate passed
            page.click("#draw")
            expect(page.locator("#seed")).not_to_be_empty()
            expect(page.locator("#sample-size")).to_have_text("3 trang trong 3 trang của lô")
            page.screenshot(path=str(SHOTS / "archive-acceptance-lot.png"), full_page=True)

            # the inspector's screen, by keyboard
            page.click("#inspect")
            expect(page.locator("#position")).to_have_text("1/3")
            expect(page.locator("#page")).to_have_attribute("src", re.compile(r"/page/1\.png\?w=900$"))
            page.keyboard.press("ArrowRight")
            expect(page.locator("#position")).to_have_text("2/3")
            expect(page.locator("#where")).to_contain_text("· 2/3")
            page.fill("#note", "mờ góc trái")
            page.locator("#shortcuts").click()  # out of the note field: keys are shortcuts again
            page.keyboard.press("3")  # unreadable (major)
            page.keyboard.press("z")
            expect(page.locator("#sheet")).to_have_class("sheet zoomed")
            expect(page.locator("#page")).to_have_attribute("src", re.compile(r"/page/2\.png\?w=1800$"))
            page.keyboard.press("z")
            page.keyboard.press("ArrowLeft")
            expect(page.locator("#position")).to_have_text("1/3")
            page.keyboard.press("9")  # crop (minor)
            expect(page.locator("#marked li")).to_have_count(2)
            page.reload()  # marks not yet proposed survive a reload
            expect(page.locator("#marked li")).to_have_count(2)
            expect(page.locator("#marked")).to_contain_text("Không đọc được")
            expect(page.locator("#marked")).to_contain_text("mờ góc trái")
            _wait_image(page)
            page.screenshot(path=str(SHOTS / "archive-acceptance-inspector.png"))
            page.keyboard.press("r")  # propose return
            page.wait_for_url(url + "/archive/decision/*")
            decision_url = page.url
            did = decision_url.rsplit("/", 1)[1]
            expect(page.locator("#decision-kind")).to_have_text("Trả lại để làm lại")
            row = db.one("SELECT defects FROM acceptance_decisions WHERE id = ?", (did,))
            marks = json.loads(row["defects"])
            assert [(m["class"], m["kind"], m["page"], m["note"]) for m in marks] == \
                [("major", "unreadable", 2, "mờ góc trái"), ("minor", "crop", 1, "")]
            assert all(m["objid"] == objid and m["doc_id"] for m in marks)

            # the same person cannot validate
            page.click("#validate")
            expect(page.locator(".flash.error")).to_have_text("Người kiểm tra không được tự phê duyệt đề xuất của mình")
            expect(page.locator("#validated-by")).to_have_text("Chờ phê duyệt")
            page.screenshot(path=str(SHOTS / "archive-acceptance-refused.png"))
            assert states.state_of(db, [objid])[objid] == "in_review"

            # another archivist validates
            other = _login(browser, url, VALIDATOR, problems)
            other.goto(decision_url)
            other.click("#validate")
            expect(other.locator(".flash.ok")).to_have_text("Đã trả lại hồ sơ để làm lại, kèm danh sách lỗi.")
            expect(other.locator("#validated-by")).to_contain_text(VALIDATOR[0])
            expect(other.locator("#decision-hoso .state")).to_have_text("Trả lại để làm lại")
            other.screenshot(path=str(SHOTS / "archive-acceptance-returned.png"), full_page=True)
            assert states.state_of(db, [objid])[objid] == "returned"

            # accept path: the second lot (both its hồ sơ), proposed by keyboard, validated by the other archivist
            page.goto(f"{url}/archive/lot/{LOT_ACCEPT}")
            page.click("#draw")
            page.click("#inspect")
            expect(page.locator("#position")).to_have_text("1/6")
            page.keyboard.press("a")
            page.wait_for_url(url + "/archive/decision/*")
            other.goto(page.url)
            other.click("#validate")
            expect(other.locator(".flash.ok")).to_contain_text("biên bản nghiệm thu bienban-nghiemthu-")
            expect(other.locator("#decision-hoso .state")).to_have_text(["Đã lưu trữ", "Đã lưu trữ"])
            other.screenshot(path=str(SHOTS / "archive-acceptance-archived.png"), full_page=True)
            other.goto(f"{url}/archive/hoso/{acceptance.objids[LOT_ACCEPT]}")
            expect(other.locator("#hoso-state")).to_have_text("Đã lưu trữ")
            expect(other.locator("#versions tbody tr")).to_have_count(2)
        finally:
            browser.close()
    assert not problems, problems

    stored = acceptance.context.store.get(acceptance.objids[LOT_ACCEPT])
    contents = read_package(stored.path)
    (record,) = [f for f in contents.files if f.use == "Documentation"]
    pdf = tmp_path / "bienban.pdf"
    with zipfile.ZipFile(stored.path) as zf:
        pdf.write_bytes(zf.read(f"{contents.folder}/{record.path}"))
    assert check_pdfa(pdf, capture=False) == []
    verdict = validate_pdf_signatures(pdf, trust_roots=[acceptance.ca_pem])
    assert verdict.ok and verdict.covers_whole_file, verdict.reasons
