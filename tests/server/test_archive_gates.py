"""Acceptance gates (nghiệm thu, automatic layer): a real stored hồ sơ passes every gate, dpi and colour
included (read from its pages against the default [acceptance] rules); blank pages, a missing paper file
code, failed ingest checks and a changed package each fail their gate."""

from __future__ import annotations

from archive_support import archive, three_page_pdf  # noqa: F401 - fixtures
from lxml import html

from server.archive import gates


def test_real_hoso_gates_on_its_page(archive):  # noqa: F811 - fixture
    page = html.fromstring(archive.session().get(f"{archive.url}/archive/hoso/{archive.objid}", timeout=30).text)
    rows = {tr.get("data-gate"): tr.get("class") for tr in page.get_element_by_id("gates").xpath(".//tr")}
    assert rows == {"package_intact": "ok", "pdfa": "ok", "signature": "ok", "counts": "ok",
                    "names_checksums": "ok", "text_every_page": "ok", "paper_file_code": "ok",
                    "dpi_colour": "ok"}
    assert "Chưa kiểm tra" not in page.get_element_by_id("gates").text_content()  # every gate is now evaluated


RECEIPT = {"checks": [{"name": n, "ok": True, "reasons": []} for n in
                      ("pdfa", "signatures", "signing_time", "counts", "identifiers", "files_listed", "fixity",
                       "schemas")]}


def _by_name(result: list[gates.Gate]) -> dict[str, gates.Gate]:
    return {g.name: g for g in result}


def test_each_gate_fails_on_its_own_defect():
    docs = [{"doc_id": "D.1", "page_count": 3, "text": "trang một\f \n\ftrang ba"}]
    hoso = {"confidenceLevel": "02", "paperFileCode": ""}
    bad_receipt = {"checks": [dict(c, ok=False, reasons=["digest mismatch"]) if c["name"] == "signatures" else c
                              for c in RECEIPT["checks"]]}
    got = _by_name(gates.evaluate(hoso=hoso, documents=docs, receipt=bad_receipt, package_ok=False))
    assert got["text_every_page"].ok is False and got["text_every_page"].details == ["D.1: page 2"]
    assert got["paper_file_code"].ok is False
    assert got["signature"].ok is False and "digest mismatch" in got["signature"].details[0]
    assert got["package_intact"].ok is False
    assert got["pdfa"].ok is True and got["dpi_colour"].ok is None
    fine = _by_name(gates.evaluate(hoso={"confidenceLevel": "01"}, documents=[dict(docs[0], text="a\fb\fc")],
                                   receipt=RECEIPT, package_ok=True))
    assert all(g.ok for n, g in fine.items() if n != "dpi_colour")
    unknown = _by_name(gates.evaluate(hoso={}, documents=[], receipt=None, package_ok=True))
    assert unknown["pdfa"].ok is None  # no receipt: not known, never "passed"


def test_pages_without_text():
    assert gates.pages_without_text("a\fb\f", 3) == [3]
    assert gates.pages_without_text("", 2) == [1, 2]
    assert gates.pages_without_text("a\fb", 2) == []
