"""The catalogue: packages and documents searchable in Vietnamese with or without diacritics."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.package import read_package
from protocol.package.sample import build_sample
from server.catalogue.catalog import Catalog, fold


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalog, str]:
    tmp = tmp_path_factory.mktemp("cat")
    built = build_sample(tmp / "out", work_dir=tmp / "work")
    cat = Catalog(tmp / "catalog.db")
    contents = read_package(built.path)
    texts = {contents.documents[0].doc_id: "Biên bản họp về quy hoạch sân bay Long Thành",
             contents.documents[1].doc_id: "Đo đạc địa chính xã Phước Thiền"}
    cat.add_package(contents, stored_path=built.path, sha256=built.sha256, station_id="st-01", texts=texts)
    return cat, built.objid


def test_fold() -> None:
    assert fold("Đồng Nai") == "dong nai"
    assert fold("ĐẤT ĐAI Ủy ban") == "dat dai uy ban"


@pytest.mark.parametrize("query", ["dong nai", "Đồng Nai", "ĐỒNG NAI", "DONG NAI", "dồng nái"])
def test_diacritics_and_d_ignored(catalog: tuple[Catalog, str], query: str) -> None:
    cat, objid = catalog
    hits = cat.search(query)
    assert hits and all(h.objid == objid for h in hits)
    assert {h.doc_id for h in hits} >= {"", "000.00.00.G09.2010.01.TH.1"}


def test_ocr_text_and_exact_query(catalog: tuple[Catalog, str]) -> None:
    cat, _ = catalog
    assert [h.doc_id for h in cat.search("phuoc thien")] == ["000.00.00.G09.2010.01.TH.2"]
    assert [h.doc_id for h in cat.search("san bay")] == ["000.00.00.G09.2010.01.TH.1"]
    hit = cat.search("Phước Thiền")[0]
    assert hit.exact and "Phước Thiền" in hit.snippet  # the snippet keeps the original diacritics
    # "sân" and "săn" fold to the same word: found either way, but only the real spelling is exact
    assert cat.search("săn bay") and not cat.search("săn bay", exact=True)
    assert cat.search("sân bay", exact=True)
    assert cat.search("không có từ này") == []
    assert cat.search('"; DROP TABLE packages; --') == []


def test_package_record_and_listing(catalog: tuple[Catalog, str]) -> None:
    cat, objid = catalog
    pkg = cat.package(objid)
    assert pkg["file_code"] == "000.00.00.G09.2010.01.TH" and pkg["station_id"] == "st-01"
    assert [d["doc_id"][-4:] for d in pkg["documents"]] == ["TH.1", "TH.2"]
    assert pkg["hoso"]["title"].startswith("Hồ sơ giao đất")
    assert [p["objid"] for p in cat.packages()] == [objid]
    assert cat.package("uuid-missing") is None


def test_replacement_supersedes_but_keeps_history(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.db")
    first = build_sample(tmp_path / "a", kind="SIP")
    second = build_sample(tmp_path / "b", kind="SIP", status="REPLACEMENT")
    for built in (first, second):
        cat.add_package(read_package(built.path), stored_path=built.path, sha256=built.sha256, station_id="s")
    assert {h.objid for h in cat.search("dong nai")} == {second.objid}
    assert {h.objid for h in cat.search("dong nai", include_superseded=True)} == {first.objid, second.objid}
    rows = {p["objid"]: p for p in cat.packages(file_code="000.00.00.G09.2010.01.TH")}
    assert rows[first.objid]["superseded_by"] == second.objid and rows[second.objid]["superseded_by"] is None
    # re-adding the same package replaces its rows instead of duplicating them
    cat.add_package(read_package(second.path), stored_path=second.path, sha256=second.sha256, station_id="s")
    assert len([h for h in cat.search("dong nai") if h.doc_id == ""]) == 1
