"""Every screen of both web apps in both languages, in Debian's headless Chromium: the station at 800×480 (login,
home, work orders, scan, review, metadata, finish, accounts) against a real station and archive server, the
server at 1366×768 (login, dashboard with the supervisor's view, work orders, stations, accounts, search, the
archive: fonds, hồ sơ, viewer, find, lots, lot, inspection, decision, copies, a copy, access log) against a
server holding a real signed package. Each screen's visible text (text nodes, placeholders, titles, button
values, the page title) is read, except what the page marks translate="no" (HTML's own mark for content that
is not to be translated: a signer's certificate subject, the access log's targets and details), and:
  - in English: no word with Vietnamese diacritics that is not data (the hồ sơ's fields, names, the fonds, the
    OCR text layer) or one of the few fixed domain terms below;
  - in Vietnamese: no msgid of the catalogue shown untranslated;
  - in both: no raw key (snake_case identifiers such as `stage_new`, a value `label()` did not know).
Every finding is listed with its screen; the test fails on any."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "server"))
from archive_support import FILE_CODE, archive, three_page_pdf  # noqa: E402,F401 - fixtures

from tests.browser.test_station_ui import AGENCY, PIN, RECORD, browser, floor  # noqa: E402,F401 - fixtures
from tests.support.web import ADMIN  # noqa: E402

STATION = {"width": 800, "height": 480}
SERVER = {"width": 1366, "height": 768}
LETTERS = "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
VI_WORD = re.compile(rf"[\w]*[{LETTERS}{LETTERS.upper()}][\w]*")
RAW_KEY = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
# Vietnamese words an English page may show on purpose, each with its reason.
DOMAIN_TERMS = {
    "hồ sơ": "the archival file: the English UI keeps the Vietnamese term the archivists use (as 'fonds')",
    "Hồ sơ": "same term at the start of a heading",
    "BẢN SAO": "the stamp printed on a copy, quoted as it is printed (Decree 30/2020)",
    "Tiếng Việt": "the language switch names each language in that language",
    "nghiệm thu": "acceptance, quoted beside its English in help texts",
    "trích yếu": "the TT05 field's Vietnamese name, glossed beside 'Summary' on the metadata form",
}
# What the walk reads: every text node under a visible element, and the attributes a user sees.
READ = """() => {
  const out = [];
  const visible = (el) => !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement, t = n.nodeValue.trim();
    if (!t || !p || ["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE"].includes(p.tagName)) continue;
    if (!visible(p.tagName === "OPTION" ? p.closest("select") : p)) continue;
    if (p.closest("[translate=no]")) continue;  // data the page marks as never translated (names, log details)
    out.push(t);
  }
  const seen = "[placeholder], [title], [aria-label], input[type=submit], input[type=button]";
  for (const el of document.querySelectorAll(seen)) {
    if (!visible(el)) continue;
    for (const a of ["placeholder", "title", "aria-label"]) if (el.getAttribute(a)) out.push(el.getAttribute(a).trim());
    if (el.matches("input[type=submit], input[type=button]") && el.value) out.push(el.value.trim());
  }
  if (document.title) out.push(document.title.trim());
  return out;
}"""


def _catalogue() -> list[tuple[str, re.Pattern]]:
    """(msgid, pattern) of every msgid the vi catalogue translates into other words."""
    from babel.messages.pofile import read_po

    with open(ROOT / "protocol/translations/vi/LC_MESSAGES/messages.po", "rb") as fh:
        entries = [m for m in read_po(fh) if m.id and isinstance(m.id, str) and m.string and m.string != m.id
                   and not VI_WORD.search(m.id)]  # "Hồ sơ" (kept in the English UI) is no English leaking
    out = []
    for m in entries:
        parts = re.split(r"%\(\w+\)s|%s|%d|\{\w*\}", m.id.replace("%%", "%"))
        if sum(len(p.strip()) for p in parts) < 4:  # "OK", "%(n)s pages": too short to tell apart from data
            continue
        out.append((m.id, re.compile(r"\b" + r".+?".join(re.escape(p) for p in parts) + r"(?!\w)")))
    return out


def _raw_values() -> set[str]:
    """Enumerated values as the code holds them ("operator", "accepted"): shown as such, a label is missing."""
    from server.labels import LABELS
    from station.auth import ROLES

    return {*ROLES, *(value for values in LABELS.values() for value in values if len(value) > 3)}


RAW_VALUES = _raw_values()


def _data_strings(extra: list[str]) -> list[str]:
    """The data the screens show: never a translation problem, whatever its language."""
    from protocol import metadata as md
    from sohoa.samplepages import sample_metadata
    from tests.support.records import AGENCY as RECORDS_AGENCY
    from tests.support.records import hoso_record

    tables = [md.MAINTENANCE, md.MODE, md.CONFIDENCE, md.FORMAT, md.RISK_STATUS, md.LANGUAGE, md.TYPE_NAME]
    values = [*RECORD.values(), *hoso_record().values(), AGENCY, RECORDS_AGENCY, *extra,
              # TT05's code meanings (Circular 05/2025 tables): official Vietnamese words the metadata carries
              *(v for table in tables for v in table.values()),
              *(v for seed in range(40) for v in sample_metadata(seed).values())]
    return sorted({str(v) for v in values if isinstance(v, str) and v.strip()}, key=len, reverse=True)


def _problems(screen: str, lang: str, texts: list[str], data: list[str], msgids) -> list[str]:
    found = []
    for raw in texts:
        text = raw
        for value in data:
            if value in text:
                text = text.replace(value, " ")
        for key in RAW_KEY.findall(text):
            found.append(f"{screen} [{lang}] raw key {key!r} in {raw[:80]!r}")
        if lang == "en":
            for term in DOMAIN_TERMS:
                text = text.replace(term, " ")
            words = VI_WORD.findall(text)
            if words:
                found.append(f"{screen} [en] Vietnamese {' '.join(words[:6])!r} in {raw[:80]!r}")
        else:
            for part in re.split(r"\s*[·|:]\s*", text.strip()):
                if part and part[0].islower() and part in RAW_VALUES:  # "operator" where "Nhân viên" belongs
                    found.append(f"{screen} [vi] raw value {part!r} in {raw[:80]!r}")
            for msgid, pattern in msgids:
                if pattern.search(text):
                    found.append(f"{screen} [vi] untranslated {msgid!r} in {raw[:80]!r}")
    return found


def _walk(page, base: str, lang: str, screens: list[tuple[str, str]], data: list[str], msgids,
          extra_data: dict[str, list[str]] | None = None) -> list[str]:
    page.goto(f"{base}/lang/{lang}?next=/")
    found = []
    for name, path in screens:
        resp = page.goto(base + path)
        assert resp is not None and resp.status < 400, f"{name}: {path} answered {resp and resp.status}"
        page.wait_for_load_state("networkidle")
        texts = page.evaluate(READ)
        assert texts, f"{name}: nothing read"
        shown = sorted({*data, *(extra_data or {}).get(name, [])}, key=len, reverse=True)
        found += _problems(name, lang, texts, shown, msgids)
    return found


def test_the_walk_sees_the_other_language_and_raw_keys():
    """Positive control of the probe the walks use: each kind of finding is found."""
    msgids = _catalogue()
    assert _problems("s", "en", ["Đăng nhập", "Hồ sơ cấp giấy", "File (hồ sơ)"], ["Hồ sơ cấp giấy"], msgids) == [
        "s [en] Vietnamese 'Đăng nhập' in 'Đăng nhập'"]
    assert _problems("s", "vi", ["Đăng xuất", "Log out"], [], msgids) == ["s [vi] untranslated 'Log out' in 'Log out'"]
    assert _problems("s", "vi", ["Trạng thái: stage_new"], [], msgids) == [
        "s [vi] raw key 'stage_new' in 'Trạng thái: stage_new'"]
    assert _problems("s", "vi", ["Lê Văn Quét · op1 · operator"], [], msgids) == [
        "s [vi] raw value 'operator' in 'Lê Văn Quét · op1 · operator'"]


def _report(found: list[str]) -> str:
    return f"{len(found)} strings of the other language or raw keys:\n" + "\n".join(found)


@pytest.mark.browser
def test_every_server_screen_speaks_one_language(archive, browser):  # noqa: F811 - fixtures
    from tests.support.records import hoso_record

    db = archive.context.db

    db.add_workorder(fonds_code="P_UBND_DN", file_code="000.00.00.H47.2001.170.VP",
                     record=hoso_record(notation="170.VP", title="Hồ sơ xây dựng trường học năm 2001"),
                     expected_sheets=1234)
    ctx = browser.new_context(viewport=SERVER, bypass_csp=True)
    page = ctx.new_page()
    msgids = _catalogue()
    ocr = [w for t in archive.page_texts for w in t.split()]
    data = _data_strings(["UBND tỉnh Đồng Nai", "Trạm 01", "Quyết định thử", "Nguyễn Văn",
                          "Quyết định về việc cấp giấy chứng nhận quyền sử dụng đất",
                          "Hồ sơ xây dựng trường học năm 2001", "digitisation of paper hồ sơ", "Nguyễn Thị Hoa"])
    found: list[str] = []
    try:
        login = [("login", "/login")]
        for lang in ("vi", "en"):
            found += _walk(page, archive.url, lang, login, data, msgids)
        page.goto(archive.url + "/login")
        page.fill("input[name=username]", ADMIN[0])
        page.fill("input[name=password]", ADMIN[1])
        page.click("form#login button[type=submit]")
        page.wait_for_load_state("networkidle")
        # a lot with its sample drawn, a proposal and a copy: the screens that only show with them
        page.goto(archive.url + "/archive/lots")
        lot_path = page.locator("table a[href*='/archive/lot/']").first.get_attribute("href")
        page.goto(archive.url + lot_path)
        page.click("#draw")
        page.wait_for_load_state("networkidle")
        page.goto(archive.url + lot_path + "/inspect")
        page.click("#propose-accept")
        page.wait_for_url(re.compile(r".*/archive/decision/.*"))
        decision_path = page.url.removeprefix(archive.url)
        page.goto(f"{archive.url}/archive/copies/?objid={archive.objid}")
        page.fill("#copy-recipient", "Nguyễn Thị Hoa")
        page.check("input[name=kind][value=copy]")
        page.click("#copy-make")
        page.wait_for_load_state("networkidle")
        copy_path = page.url.removeprefix(archive.url)
        assert "/archive/copies/" in copy_path and copy_path != "/archive/copies/", copy_path
        word = next(w for w in ocr if len(w) > 4 and w.isalpha())
        data.append(word)  # the search typed: shown back on the find page and in the access log
        screens = [
            ("dashboard", "/"), ("work orders", "/workorders"), ("stations", "/stations"), ("accounts", "/users"),
            ("search", "/search?q=Long"), ("archive", "/archive/"), ("fonds", "/archive/fonds/P_UBND_DN"),
            ("hồ sơ", f"/archive/hoso/{archive.objid}"), ("viewer", f"/archive/doc/{archive.objid}/{archive.doc_id}"),
            ("find", f"/archive/find?q={word}"),
            ("find, too many words", "/archive/find?q=" + "+".join("abcdefghijklm")),
            ("lots", "/archive/lots"), ("lot", lot_path), ("inspection", lot_path + "/inspect"),
            ("decision", decision_path), ("copies", "/archive/copies/"),
            ("copy form", f"/archive/copies/?objid={archive.objid}"), ("copy", copy_path),
            ("access log", "/archive/audit"),
        ]
        texts_per_screen = {"viewer": ocr, "find": ocr + pdf_text_lines(archive)}
        for lang in ("vi", "en"):
            found += _walk(page, archive.url, lang, screens, data, msgids, texts_per_screen)
    finally:
        ctx.close()
    assert not found, _report(found)


def pdf_text_lines(archive) -> list[str]:  # noqa: F811 - fixture name
    """The find page shows snippets of the text layer: its lines are data."""
    return [line.strip() for t in archive.page_texts for line in t.splitlines() if line.strip()]


@pytest.mark.browser
def test_every_station_screen_speaks_one_language(floor, browser):  # noqa: F811 - fixtures
    from tests.browser.test_station_ui_pass2 import _login, _scanned_batch

    url = floor["station"]
    s, tok = _login(url)
    bid = _scanned_batch(floor, s, notation="171.VP")
    _admin, admin_tok = _login(url, "admin1", PIN)
    msgids = _catalogue()
    data = _data_strings(["Trần Thị Quản Trị", "Lê Văn Quét", "Trạm số hóa giao diện",
                          "Phông Ủy ban nhân dân tỉnh Đồng Nai"])
    found: list[str] = []
    ctx = browser.new_context(viewport=STATION, bypass_csp=True)
    try:
        page = ctx.new_page()
        for lang in ("vi", "en"):
            found += _walk(page, url, lang, [("login", "/login")], data, msgids)
        screens = [("home", "/"), ("work orders", "/new"), ("scan", f"/batch/{bid}/scan"),
                   ("review", f"/batch/{bid}/review"), ("metadata", f"/batch/{bid}/documents"),
                   ("finish", f"/batch/{bid}/finish")]
        ctx.add_cookies([{"name": "sohoa_session", "value": tok, "url": url}])
        for lang in ("vi", "en"):
            found += _walk(page, url, lang, screens, data, msgids)
        ctx.add_cookies([{"name": "sohoa_session", "value": admin_tok, "url": url}])
        for lang in ("vi", "en"):
            found += _walk(page, url, lang, [("accounts", "/accounts")], data, msgids)
    finally:
        ctx.close()
        requests.post(url + "/api/logout", headers={"Authorization": f"Bearer {tok}"}, timeout=10)
    assert not found, _report(found)


@pytest.mark.browser
def test_revoking_a_station_asks_first_in_the_pages_language(archive, browser):  # noqa: F811 - fixtures
    """The enrolment page's confirmation moved from an inline handler (which the CSP blocked: the station was
    revoked without asking) to static/confirm.js, its question from the old table to the catalogue."""
    db = archive.context.db
    db.add_station("tram-thu", name="Trạm thử thu hồi")
    revoked = lambda: next(s["revoked"] for s in db.stations() if s["id"] == "tram-thu")  # noqa: E731
    ctx = browser.new_context(viewport=SERVER)  # CSP on, as in use
    page = ctx.new_page()
    try:
        page.goto(archive.url + "/login")
        page.fill("input[name=username]", ADMIN[0])
        page.fill("input[name=password]", ADMIN[1])
        page.click("form#login button[type=submit]")
        page.wait_for_load_state("networkidle")
        asked: list[str] = []
        for lang, question in (("vi", "Thu hồi quyền của trạm này ngay?"), ("en", "Revoke this station now?")):
            page.goto(f"{archive.url}/lang/{lang}?next=/stations")
            page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
            page.click('tr[data-station="tram-thu"] button[type=submit]')
            page.wait_for_load_state("networkidle")
            assert asked[-1] == question and not revoked()  # declined: nothing revoked
        page.once("dialog", lambda d: d.accept())
        page.click('tr[data-station="tram-thu"] button[type=submit]')
        page.wait_for_load_state("networkidle")
        assert revoked()  # positive control: accepted, the same click revokes
    finally:
        ctx.close()
