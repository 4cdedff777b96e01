"""The archive workspace in Debian's headless Chromium at 1366×768: an archivist logs in, browses fonds ->
hồ sơ -> document, reads it in the viewer (server-rendered page, OCR text layer, zoom, pan, signature panel),
then searches a word without diacritics and the hit opens the viewer at its page with the word marked.
A real package made by the project's builders, sent by the station's sync client. Screenshots in
docs/screenshots/archive-*.png."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "server"))
from archive_support import archive, distinctive_word, three_page_pdf  # noqa: E402,F401 - fixtures

from server.checks import CHECKS  # noqa: E402
from tests.support.web import ARCHIVIST, show_listeners_see  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "docs" / "screenshots"


@pytest.mark.browser
def test_browse_read_and_find_in_the_archive(archive):  # noqa: F811 - fixture
    from playwright.sync_api import expect, sync_playwright

    from server.catalogue.catalog import fold

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    SHOTS.mkdir(parents=True, exist_ok=True)
    word = distinctive_word(archive.page_texts, 3)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768}, bypass_csp=True)  # wait_for_function evals
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
            external: list[str] = []
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith(archive.url) else None)

            page.goto(archive.url + "/login")
            show_listeners_see(page, errors, external)  # the probes asserted empty at the end do see things
            page.fill("input[name=username]", ARCHIVIST[0])
            page.fill("input[name=password]", ARCHIVIST[1])
            page.click("form#login button[type=submit]")
            page.wait_for_url(archive.url + "/archive/")
            expect(page.locator("#fonds")).to_contain_text("UBND tỉnh Đồng Nai")
            page.screenshot(path=str(SHOTS / "archive-fonds.png"))

            # browse: fonds -> hồ sơ -> document
            page.click("#fonds a")
            expect(page.locator("#hoso-list .state")).to_have_text("Đã tiếp nhận")
            page.click("#hoso-list a")
            expect(page.locator("#hoso-state")).to_have_text("Đã tiếp nhận")
            expect(page.locator("#hoso-fields tbody tr")).to_have_count(18)
            expect(page.locator("#checks tr.ok")).to_have_count(len(CHECKS))  # every named check passed
            expect(page.locator("#timeline")).to_contain_text("le.van.quet")
            page.screenshot(path=str(SHOTS / "archive-hoso.png"), full_page=True)
            page.click(f'#documents tr[data-doc="{archive.doc_id}"] a')

            # read: the page image, the text layer, the signature panel
            page.wait_for_function("document.getElementById('page-img').complete"
                                   " && document.getElementById('page-img').naturalWidth > 0")
            expect(page.locator("#sigpanel")).to_have_attribute("data-state", "ok", timeout=30_000)
            expect(page.locator("#sig-intact")).to_have_text("Có")
            expect(page.locator("#sig-trusted")).to_have_text("Có")
            expect(page.locator("#thumbs .thumb")).to_have_count(3)
            page.wait_for_function("document.getElementById('viewer').dataset.textReady === '1'")
            layer_text = page.locator("#textlayer").inner_text()
            assert fold(archive.page_texts[0].split()[0]) in fold(layer_text)  # the OCR words are there
            # selectable: select the layer's text and read the browser's selection back
            selected = page.evaluate("""() => { const r = document.createRange();
                r.selectNodeContents(document.getElementById('textlayer'));
                const s = getSelection(); s.removeAllRanges(); s.addRange(r); return s.toString(); }""")
            assert len(selected.split()) > 20
            page.check("#show-text")
            expect(page.locator("#textlayer")).to_have_class("textlayer visible")
            page.screenshot(path=str(SHOTS / "archive-viewer.png"))
            page.uncheck("#show-text")

            # zoom and pan
            before = page.evaluate("document.getElementById('sheet').clientWidth")
            page.click("#zoom-in")
            page.click("#zoom-in")
            after = page.evaluate("document.getElementById('sheet').clientWidth")
            assert after > before * 1.5
            box = page.locator("#stage").bounding_box()
            page.mouse.move(box["x"] + 400, box["y"] + 300)
            page.mouse.down()
            page.mouse.move(box["x"] + 200, box["y"] + 100, steps=5)
            page.mouse.up()
            assert page.evaluate("document.getElementById('stage').scrollTop") > 50
            # next page through the thumbnails
            page.click('.thumb[data-page="2"]')
            expect(page.locator("#pageinfo")).to_have_text("Trang 2/3")

            # find: the word of page 3, typed without diacritics
            page.click("nav a[href='/archive/find']")
            page.fill("#find input[name=q]", fold(word))
            page.click("#find button[type=submit]")
            hit = page.locator("#found li").first
            expect(hit.locator("mark").first).to_have_text(word)
            expect(hit).to_contain_text("trang 3")
            page.screenshot(path=str(SHOTS / "archive-find.png"))
            hit.locator("a.hit-link").click()
            expect(page.locator("#pageinfo")).to_have_text("Trang 3/3")
            expect(page.locator('.thumb.current')).to_have_attribute("data-page", "3")
            marked = page.locator("#textlayer span.hit")
            expect(marked.first).to_be_visible()
            assert fold(word) in fold(marked.first.inner_text())
            # scrolled to the hit: it is inside the visible part of the page pane
            page.wait_for_function("""() => { const s = document.getElementById('stage').getBoundingClientRect();
                const h = document.querySelector('#textlayer span.hit').getBoundingClientRect();
                return h.top >= s.top && h.bottom <= s.bottom && h.height > 5; }""")
            page.screenshot(path=str(SHOTS / "archive-viewer-hit.png"))

            assert not errors, errors
            assert not external, external  # nothing from a CDN or anywhere else

            # the stored file changed behind the archive's back: the viewer says so, in red
            from test_archive_viewer import _tamper

            _tamper(archive.context.store.get(archive.objid).path, f"{archive.doc_id}.pdf")
            page.reload()
            expect(page.locator("#sigpanel")).to_have_attribute("data-state", "failed", timeout=30_000)
            expect(page.locator("#sig-verdict")).to_contain_text("KHÔNG ĐẠT")
            expect(page.locator("#sig-intact")).to_have_text("Không")
            expect(page.locator("#sig-reasons")).to_contain_text("fixity")
            page.screenshot(path=str(SHOTS / "archive-viewer-tampered.png"))
        finally:
            browser.close()
