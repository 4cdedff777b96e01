"""Archive workspace, find: diacritic-insensitive full-text search over the OCR text and metadata of a real
stored package, with filters, paging, snippets with the hits marked, the page each hit is on and a link that
opens the viewer there; empty and oversized queries answered with a message; searches logged."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from archive_support import FILE_CODE, archive, distinctive_word, three_page_pdf  # noqa: F401 - fixtures
from lxml import html
from test_catalog_pg import open_new  # noqa: F401 - fixture

from protocol.package.model import DocumentEntry, PackageContents
from server.archive import audit, find
from server.catalogue.catalog import fold


def _find(archive, **params):  # noqa: F811 - fixture
    resp = archive.session().get(archive.url + "/archive/find", params=params, timeout=30)
    assert resp.status_code == 200, resp.text[:300]
    return html.fromstring(resp.text)


def test_hit_on_page_three_without_diacritics_opens_the_viewer_there(archive):  # noqa: F811 - fixture
    word = distinctive_word(archive.page_texts, 3)
    query = fold(word)
    page = _find(archive, q=query)
    hits = page.xpath("//ol[@id='found']/li")
    assert len(hits) == 1, [h.text_content() for h in hits]
    marks = [m.text_content() for m in hits[0].xpath(".//p[@class='snippet']/mark")]
    assert marks and all(fold(m) == query for m in marks) and word in marks  # shown with its diacritics
    href = hits[0].xpath(".//a[@class='hit-link']")[0].get("href")
    parts = urlsplit(href)
    assert parts.path == f"/archive/doc/{archive.objid}/{archive.doc_id}"
    assert parse_qs(parts.query) == {"page": ["3"], "q": [query]}
    viewer = archive.session().get(archive.url + href, timeout=30).text
    assert 'data-page="3"' in viewer


def test_metadata_hit_opens_the_hoso(archive):  # noqa: F811 - fixture
    page = _find(archive, q="TTLT.K1-G05-H012.160")  # the paper file code: only in the hồ sơ's description
    links = page.xpath("//ol[@id='found']//a[@class='hit-link']/@href")
    assert f"/archive/hoso/{archive.objid}" in links


def test_filters(archive):  # noqa: F811 - fixture
    q = "chung nhan"
    def count(**f) -> int:
        return len(_find(archive, q=q, **f).xpath("//ol[@id='found']/li"))

    everything = count()
    assert everything >= 2  # the hồ sơ's title and the document
    assert count(fonds="P_UBND_DN") == everything and count(fonds="P_OTHER") == 0
    assert count(year="2001") == everything and count(year="1990") == 0
    assert count(hoso=FILE_CODE) == everything and count(hoso="000.00.00.H47.2001.999.VP") == 0
    assert count(type="02") == 1 and count(type="03") == 0  # only documents have a type


def test_paging_shows_each_hit_once(archive):  # noqa: F811 - fixture
    first = find.find(archive.context.catalog, "chứng nhận", page=1, per_page=1)
    second = find.find(archive.context.catalog, "chứng nhận", page=2, per_page=1)
    assert first.has_next and len(first.hits) == len(second.hits) == 1
    assert (first.hits[0].objid, first.hits[0].doc_id) != (second.hits[0].objid, second.hits[0].doc_id)
    page = _find(archive, q="chứng nhận")
    assert not page.xpath("//a[@id='next-page']")  # 20 a page: one page here


def test_nothing_and_ten_thousand_characters_get_a_message(archive):  # noqa: F811 - fixture
    assert "Hãy nhập từ cần tìm" in _find(archive, q="  ").get_element_by_id("find-message").text_content()
    assert "Hãy nhập từ cần tìm" in _find(archive, q="…!?").get_element_by_id("find-message").text_content()
    long = _find(archive, q="đất " * 2500).get_element_by_id("find-message").text_content()
    assert "quá dài" in long
    assert "4 chữ số" in _find(archive, q="dat", year="20x1").get_element_by_id("find-message").text_content()
    assert find.find(archive.context.catalog, "a " * 13).message == "too_many_words"


def test_snippet_marks_every_hit_and_stays_on_its_page():
    raw = "Trang một không có.\fỦy ban nhân dân tỉnh Đồng Nai cấp đất cho ĐỒNG NAI\fTrang ba"
    page, pieces = find.snippet(raw, ["dong", "nai"])
    assert page == 2
    text = "".join(t for t, _ in pieces)
    assert "Trang" not in text  # nothing from the pages around it
    first_page, around = find.snippet(raw, ["mot"])  # positive control: a hit on page 1 shows its "Trang"
    assert first_page == 1 and "Trang" in "".join(t for t, _ in around)
    assert [t for t, hit in pieces if hit] == ["Đồng", "Nai", "ĐỒNG", "NAI"]


def test_searches_are_logged(archive):  # noqa: F811 - fixture
    _find(archive, q="Đồng Nai", fonds="P_UBND_DN")
    entry = audit.entries(archive.context.db, limit=1)[0]
    assert (entry["action"], entry["target"], entry["detail"]) == ("search", "Đồng Nai", "fonds=P_UBND_DN")


def _contents(n: int, *, fonds: str, year: int, type_name: str, pages: list[str]
              ) -> tuple[PackageContents, dict[str, str]]:
    file_code = f"000.00.00.H47.{year}.{n}.VP"
    doc_id = f"{file_code}.1"
    contents = PackageContents(
        objid=f"urn:{fonds}:uuid-{n:08d}-0000-4000-8000-000000000000", kind="AIP", record_status="NEW",
        folder="", file_code=file_code, fonds_code=fonds,
        hoso={"title": f"Hồ sơ số {n}", "arcFileCode": file_code, "startDate": f"01/01/{year}",
              "endDate": f"31/12/{year}"},
        documents=[DocumentEntry(doc_id=doc_id, doc_code=f"{file_code}.0000001", ordinal=1, page_count=len(pages),
                                 pdf_member=f"representations/rep1/data/{doc_id}.pdf", metadata_path="",
                                 fields={"subject": f"Tài liệu {n}", "typeName": type_name})],
        files=[], events=[], premis_objects=[],
    )
    return contents, {doc_id: "\n\f".join(pages)}


def test_find_on_both_catalogue_backends(open_new):  # noqa: F811 - fixture
    catalog = open_new()
    for n, fonds, year, type_name, pages in (
        (1, "P_A", 1999, "02", ["mở đầu", "không có gì", "giao đất tại xã Phước Thiền"]),
        (2, "P_B", 2005, "20", ["biên bản giao đất xã Phước Thiền", "hết"]),
    ):
        contents, texts = _contents(n, fonds=fonds, year=year, type_name=type_name, pages=pages)
        catalog.add_package(contents, stored_path="", sha256="0" * 64, station_id="st", texts=texts,
                            extract_text=False)
    everything = find.find(catalog, "phuoc thien")
    assert {(h.file_code, h.page) for h in everything.hits} == {
        ("000.00.00.H47.1999.1.VP", 3), ("000.00.00.H47.2005.2.VP", 1)}
    assert [h.fonds_code for h in find.find(catalog, "phuoc thien", find.Filters(fonds="P_B")).hits] == ["P_B"]
    assert [h.page for h in find.find(catalog, "phuoc thien", find.Filters(year="1999")).hits] == [3]
    assert find.find(catalog, "phuoc thien", find.Filters(year="2000")).hits == []
    assert [h.type_name for h in find.find(catalog, "phuoc thien", find.Filters(doc_type="20")).hits] == ["20"]
    assert len(find.find(catalog, "phuoc thien", find.Filters(file_code="000.00.00.H47.1999.1.VP")).hits) == 1
    one = find.find(catalog, "Phước Thiền", per_page=1)
    two = find.find(catalog, "Phước Thiền", page=2, per_page=1)
    assert one.has_next and not two.has_next and one.hits[0].file_code != two.hits[0].file_code
    marked = [t for h in everything.hits for t, hit in h.snippet if hit]
    assert set(marked) == {"Phước", "Thiền"}
