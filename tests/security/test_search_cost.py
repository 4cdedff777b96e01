"""#14.7: a search cannot hold the catalogue: queries are capped (characters, words), each has a time budget,
and searches read on their own connections, so a commit never waits for a reader (real server over HTTP)."""

from __future__ import annotations

import threading
import time

from protocol.package.model import DocumentEntry, PackageContents
from server.catalogue.catalog import MAX_QUERY_TERMS, Catalog
from tests.support.web import ADMIN, web_login

WORDS = "quyết định giao đất cho hộ ông bà xã huyện tỉnh năm số về việc cấp giấy chứng nhận quyền sử dụng".split()


def _add(cat: Catalog, n: int) -> None:
    file_code = f"000.00.00.H47.2001.{n}.VP"
    doc_id = f"{file_code}.1"
    contents = PackageContents(
        objid=f"urn:P_UBND_DN:uuid-{n:08d}-0000-4000-8000-000000000000", kind="AIP", record_status="NEW",
        folder="", file_code=file_code, hoso={"title": f"Hồ sơ {n}", "fileCode": file_code},
        documents=[DocumentEntry(doc_id=doc_id, doc_code="", ordinal=1, fields={"subject": f"Văn bản {n}"},
                                 metadata_path="", pdf_member="", page_count=0)],
        files=[], events=[], premis_objects=[],
    )
    cat.add_package(contents, stored_path="", sha256="0" * 64, station_id="st-a",
                    texts={doc_id: " ".join(WORDS * 20) + f" số {n}"})


def test_huge_query_is_refused_at_once_and_others_are_served(archive):
    cat = archive.context.catalog
    for n in range(60):
        _add(cat, n)
    session = web_login(archive.url, *ADMIN)
    huge = " ".join(WORDS[i % len(WORDS)] for i in range(20_000))
    started = time.monotonic()
    resp = session.get(archive.url + "/search", params={"q": huge}, timeout=30)
    assert resp.status_code == 400 and "rút gọn" in resp.text
    assert time.monotonic() - started < 2
    many = " ".join(WORDS[: MAX_QUERY_TERMS + 1])
    resp = session.get(archive.url + "/search", params={"q": many}, timeout=30)
    assert resp.status_code == 400 and str(MAX_QUERY_TERMS) in resp.text
    resp = session.get(archive.url + "/search", params={"q": " ".join(WORDS[:MAX_QUERY_TERMS])}, timeout=30)
    assert resp.status_code == 200 and "Hồ sơ" in resp.text


def test_search_past_its_budget_answers_503(archive):
    cat = archive.context.catalog
    for n in range(60):
        _add(cat, n)
    session = web_login(archive.url, *ADMIN)
    cat.budget_s = 0.0  # every search is past its budget at the first progress check
    try:
        resp = session.get(archive.url + "/search", params={"q": "quyết định"}, timeout=30)
        assert resp.status_code == 503 and "từ đặc trưng" in resp.text, resp.text[-500:]
    finally:
        cat.budget_s = 2.0
    assert session.get(archive.url + "/search", params={"q": "quyết định"}, timeout=30).status_code == 200


def test_a_reader_in_the_middle_of_a_query_never_holds_up_a_commit(archive):
    cat = archive.context.catalog
    _add(cat, 1)
    reading = threading.Event()
    release = threading.Event()

    def long_reader() -> None:  # a search's read transaction, left open as a slow search would
        conn = cat._reader()
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM search").fetchone()
        reading.set()
        release.wait(30)
        conn.execute("COMMIT")

    thread = threading.Thread(target=long_reader)
    thread.start()
    assert reading.wait(10)
    try:
        started = time.monotonic()
        _add(cat, 2)  # what an accepted package's commit does
        assert time.monotonic() - started < 2
        assert {h.file_code for h in cat.search("số 2")} == {"000.00.00.H47.2001.2.VP"}
    finally:
        release.set()
        thread.join()
