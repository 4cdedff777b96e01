"""The copy request screen in Debian's headless Chromium at 1366×768: an archivist picks a stored hồ sơ,
fills a request (recipient, purpose, until when), is told in Vietnamese when the date is wrong, makes a
read-only view and reads its pages (marked with the archive's name), then makes a "BẢN SAO" copy and
downloads it. Every label is Vietnamese; no kind or purpose code shows. Screenshot
docs/screenshots/archive-copies.png."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "server"))
from archive_support import FILE_CODE, archive, three_page_pdf  # noqa: E402,F401 - fixtures

from protocol.clock import now_vn  # noqa: E402
from protocol.hashing import sha256_file  # noqa: E402
from tests.support.web import ARCHIVIST, show_listeners_see  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "docs" / "screenshots"
ARCHIVE_NAME = "Lưu trữ lịch sử tỉnh Đồng Nai"


@pytest.mark.browser
def test_copy_request_screen(archive, tmp_path):  # noqa: F811 - fixture
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    archive.context.config.archive_name = ARCHIVE_NAME
    SHOTS.mkdir(parents=True, exist_ok=True)
    stored = archive.context.store.get(archive.objid)
    before = sha256_file(stored.path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768}, accept_downloads=True,
                                    bypass_csp=True)  # wait_for_function evaluates a string
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            external: list[str] = []
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith(archive.url) else None)
            page.goto(archive.url + "/login")
            show_listeners_see(page, errors, external)  # the probes asserted empty at the end do see things
            page.fill("input[name=username]", ARCHIVIST[0])
            page.fill("input[name=password]", ARCHIVIST[1])
            page.click("form#login button[type=submit]")
            page.wait_for_url(archive.url + "/archive/")
            page.click("nav a[href='/archive/copies/']")
            page.fill("#pick-hoso input[name=objid]", FILE_CODE)  # the mã hồ sơ people know
            page.click("#pick-hoso button[type=submit]")
            form = page.locator("#copy-form")
            expect(form).to_contain_text("Bản sao có xác thực dạng gói tin sử dụng (DIP)")
            expect(form.locator("select[name=purpose] option")).to_have_text(["Cá nhân", "Công vụ",
                                                                             "Công vụ đặc biệt"])
            page.fill("#copy-recipient", "Nguyễn Thị Hoa")
            page.fill("input[name=recipient_id]", "079190000123")
            page.select_option("select[name=purpose]", "02")
            page.fill("input[name=purpose_content]", "Giải quyết hồ sơ đất đai")
            page.check("input[name=kind][value=read]")
            page.fill("#copy-until", (now_vn().date() + timedelta(days=30)).isoformat())
            page.screenshot(path=str(SHOTS / "archive-copies.png"))
            page.click("#copy-make")
            expect(page.locator("#copy-error")).to_have_text("Bản đọc chỉ được xem tối đa 15 ngày")
            expect(page.locator("#copy-recipient")).to_have_value("Nguyễn Thị Hoa")  # nothing typed is lost
            page.fill("#copy-until", (now_vn().date() + timedelta(days=7)).isoformat())
            page.click("#copy-make")
            expect(page.locator("#copy-kind")).to_have_text("Bản đọc (xem trực tuyến, có tên lưu trữ ở cuối mỗi trang)")
            expect(page.locator("#copy")).to_contain_text("Công vụ: Giải quyết hồ sơ đất đai")
            page.click("#copy-open")
            expect(page.locator("#read-only-note")).to_contain_text("Hết hạn sau ngày")
            imgs = page.locator("img.read-page")
            expect(imgs).to_have_count(3)
            for i in range(3):
                imgs.nth(i).scroll_into_view_if_needed()
            page.wait_for_function("[...document.querySelectorAll('img.read-page')]"
                                   ".every((i) => i.complete && i.naturalWidth > 0)")
            assert page.locator("a", has_text="Tải").count() == 0  # a read-only view offers no download

            # a "BẢN SAO" copy, downloaded
            page.goto(f"{archive.url}/archive/copies/?objid={archive.objid}")
            page.fill("#copy-recipient", "Trần Văn Bình")
            page.check("input[name=kind][value=copy]")
            page.click("#copy-make")
            expect(page.locator("a", has_text="Tải")).to_have_count(1)  # the probe above sees a download offered
            with page.expect_download() as got:
                page.click("#copy-download")
            saved = tmp_path / "copy.pdf"
            got.value.save_as(saved)
            text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(saved), "-"], capture_output=True,
                                  check=True, timeout=60).stdout.decode()
            assert "BẢN SAO" in text

            page.goto(archive.url + "/archive/copies/")
            table = page.locator("#copies")
            expect(table).to_contain_text("Bản đọc")
            body = page.locator("main").inner_text()
            for code in (">read<", ">copy<", ">02<"):
                assert code not in page.locator("#copies").inner_html(), code
            assert "Trần Văn Bình" in body and "Nguyễn Thị Hoa" in body
            assert not errors, errors
            assert not external, external
        finally:
            browser.close()
    assert sha256_file(stored.path) == before
