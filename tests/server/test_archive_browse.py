"""Archive workspace, browse: fonds -> hồ sơ -> documents of a real package sent by a real station client,
read back from the stored package (state, 18 hồ sơ fields, 21 document fields, every check, PREMIS timeline,
versions), and each view written to the access log."""

from __future__ import annotations

import re

from archive_support import FILE_CODE, archive, three_page_pdf  # noqa: F401 - fixtures
from lxml import html

from protocol.package.ead import DOC_FIELDS, FILE_FIELDS
from server.archive import audit, states
from server.checks import CHECKS
from tests.support.wait import wait_until


def _page(session, url: str):
    resp = session.get(url, timeout=30)
    assert resp.status_code == 200, resp.text[:300]
    return html.fromstring(resp.text)


def test_fonds_then_hoso_list_with_state(archive):  # noqa: F811 - fixture
    s = archive.session()
    index = _page(s, archive.url + "/archive/")
    fonds = index.get_element_by_id("fonds")
    assert "P_UBND_DN" in fonds.text_content() and "UBND tỉnh Đồng Nai" in fonds.text_content()
    link = fonds.xpath(".//a")[0].get("href")
    listing = _page(s, archive.url + link).get_element_by_id("hoso-list")
    [row] = listing.xpath(".//tbody/tr")
    assert row.get("data-objid") == archive.objid
    assert FILE_CODE in row.text_content()
    assert row.xpath(".//span[contains(@class,'state')]")[0].text_content() == "Đã tiếp nhận"


def test_hoso_page_reads_the_stored_package(archive):  # noqa: F811 - fixture
    page = _page(archive.session(), f"{archive.url}/archive/hoso/{archive.objid}")
    fields = {tr.get("data-field"): tr.xpath("./td")[0].text_content() for tr in
              page.get_element_by_id("hoso-fields").xpath(".//tbody/tr")}
    # the station sends AIPs (arcFileCode; 19 document fields: docOrdinal, no docId); a SIP has 18 and 21
    assert list(fields) == [f.element for f in FILE_FIELDS["AIP"]] and len(fields) == 18
    assert fields["arcFileCode"] == FILE_CODE
    assert fields["paperFileCode"] == "TTLT.K1-G05-H012.160"
    assert "Vĩnh viễn" in fields["maintenance"]  # code 01 with its meaning
    [doc_details] = page.xpath("//details[@class='doc-fields']")
    doc_fields = {tr.get("data-field"): tr.xpath("./td")[0].text_content() for tr in doc_details.xpath(".//tr")}
    assert list(doc_fields) == [f.element for f in DOC_FIELDS["AIP"]]
    assert doc_fields["docOrdinal"] == "1" and "Quyết định" in doc_fields["typeName"]
    assert doc_fields["subject"] == "Quyết định về việc cấp giấy chứng nhận quyền sử dụng đất"
    [doc_row] = page.get_element_by_id("documents").xpath(".//tbody/tr")
    assert doc_row.get("data-doc") == archive.doc_id and doc_row.xpath(".//td")[3].text_content() == "3"

    checks = {tr.get("data-check"): tr.get("class") for tr in page.get_element_by_id("checks").xpath(".//tr")}
    assert list(checks) == [name for name, _ in CHECKS]  # the ingest receipt of these very bytes
    assert set(checks.values()) == {"ok"}

    timeline = [[td.text_content() for td in tr.xpath("./td")] for tr in
                page.get_element_by_id("timeline").xpath(".//tbody/tr")]
    capture = next(r for r in timeline if r[1] == "capture")
    transfer = next(r for r in timeline if r[1] == "transfer")
    assert capture[4] == "test:0" and capture[3] == "tram-01"  # which scanner, which station
    assert transfer[2] == "le.van.quet"  # who
    moments = page.get_element_by_id("timeline").xpath(".//tbody/tr/td[1]/time/@datetime")
    assert len(moments) == len(timeline) and moments == sorted(moments)  # oldest first (Babel shows them)
    versions = page.get_element_by_id("versions").xpath(".//tbody/tr")
    assert len(versions) == 1 and archive.package.sha256.upper() in versions[0].text_content().upper()


def test_state_kept_in_the_records_and_shown(archive):  # noqa: F811 - fixture
    db = archive.context.db
    s = archive.session()
    try:
        states.set_state(db, archive.objid, "in_review", by="chi.luutru")
        page = _page(s, f"{archive.url}/archive/hoso/{archive.objid}")
        assert page.get_element_by_id("hoso-state").text_content() == "Đang nghiệm thu"
        assert states.state_of(db, [archive.objid, "other"]) == {archive.objid: "in_review", "other": "received"}
    finally:
        states.set_state(db, archive.objid, "received", by="test")
    try:
        states.set_state(db, archive.objid, "approved-ish", by="x")
    except ValueError as exc:
        assert "unknown state" in str(exc)
    else:
        raise AssertionError("an unknown state was accepted")


def test_english_texts(archive):  # noqa: F811 - fixture
    s = archive.session()
    s.get(archive.url + "/lang/en", timeout=10)
    page = s.get(f"{archive.url}/archive/hoso/{archive.objid}", timeout=30).text
    assert "Checks at ingest" in page and "Received" in page
    s.get(archive.url + "/lang/vi", timeout=10)


def test_views_are_in_the_access_log(archive):  # noqa: F811 - fixture
    s = archive.session()
    before = len(audit.entries(archive.context.db, limit=10_000))
    _page(s, f"{archive.url}/archive/hoso/{archive.objid}")
    [entry] = audit.entries(archive.context.db, limit=1)
    assert len(audit.entries(archive.context.db, limit=10_000)) == before + 1
    assert (entry["actor"], entry["action"], entry["target"], entry["address"]) == (
        "chi.luutru", "view_hoso", archive.objid, "127.0.0.1")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", entry["at"])


def test_opening_a_hoso_prepares_its_documents_first_pages(archive):  # noqa: F811 - fixture

    cache = archive.context.config.data_dir / "cache" / "viewer"
    _page(archive.session(), f"{archive.url}/archive/hoso/{archive.objid}")
    wait_until(lambda: list(cache.glob("*/p0001-w900.png")), 60, "the first page rendered ahead", interval=0.1)
    from server.archive import render

    render._PREWARM.submit(lambda: None).result(timeout=120)  # the work ahead is over: nothing more is coming
    assert not list(cache.glob("*/p0002-*"))  # only the first page, not the document
    second = archive.session().get(f"{archive.url}/archive/doc/{archive.objid}/{archive.doc_id}/page/2.png?w=900",
                                   timeout=30)
    assert second.status_code == 200 and list(cache.glob("*/p0002-*")), "positive control: the glob sees page 2"
