"""The station's text layer in the package (representations/rep1/data/text/{docId}.txt, METS group Data/Text):
checked like every file, and the catalogue's text instead of pdftotext when its pages count the PDF's.

Where a test gives the package a text that is not the PDF's (a marker), it is to tell which of the two the
catalogue took: the builder packs what the station gives it, and the archive holds it to METS and to the
page count, not to the PDF's words (docs/packages.md).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from protocol.clock import iso_vn
from protocol.hashing import sha256_bytes
from protocol.metadata import DocumentRecord, FileRecord
from protocol.package import PackageDocument, PremisEvent, build_package, read_package
from protocol.package.model import PackageError, text_path
from protocol.pdftext import pdf_text
from server.catalogue.catalog import texts_from_zip
from server.checks import STRUCTURAL, pdfwork, run_checks
from tests.support.records import AGENCY

MARKER = "Văn bản đánh dấu của trạm\n\f"  # one page, not the PDF's words


def _build(tmp: Path, pdf: Path, hoso_fields, text: str) -> Path:
    hoso = FileRecord(**hoso_fields())
    doc = DocumentRecord(
        ordinal=1,
        type_name="02",
        issued_date="04/03/2001",
        organ_name=AGENCY,
        subject="Quyết định về việc cấp giấy chứng nhận",
        number_of_page=1,
    )
    out = tmp / f"out-{len(list(tmp.glob('out-*')))}"
    return build_package(
        hoso=hoso,
        documents=[PackageDocument(record=doc, pdf_path=pdf, page_count=1, text=text)],
        events=[
            PremisEvent(
                event_type="transfer",
                at=iso_vn(),
                agent="person:op1",
                detail="digitisation",
                objects=[doc.doc_id(hoso.file_code)],
            )
        ],
        out_dir=out,
    ).path


def _rewrite(package: Path, replace: dict[str, bytes | None], add: dict[str, bytes] | None = None) -> None:
    """The zip with members (relative to its folder) replaced or dropped (None), and others added."""
    folder = read_package(package).folder
    tmp = package.with_suffix(".tmp")
    with zipfile.ZipFile(package) as zin, zipfile.ZipFile(tmp, "w") as zout:
        for info in zin.infolist():
            rel = info.filename[len(folder) + 1 :]
            if rel in replace:
                if replace[rel] is not None:
                    zout.writestr(info, replace[rel])
                continue
            zout.writestr(info, zin.read(info))
        for rel, data in (add or {}).items():
            zout.writestr(f"{folder}/{rel}", data)
    tmp.replace(package)


def _roots(demo_keys) -> list[bytes]:
    return [demo_keys.ca_pem.read_bytes()]


def test_the_package_lists_the_text_layer_and_the_catalogue_takes_it(tmp_path, signed_pdf, demo_keys, hoso_fields):
    package = _build(tmp_path, signed_pdf, hoso_fields, MARKER)
    contents = read_package(package)
    [doc] = contents.documents
    assert doc.text_member == text_path(doc.doc_id)
    [entry] = [e for e in contents.files if e.path == doc.text_member]
    assert (
        entry.use == "Data/Text"
        and entry.sha256 == sha256_bytes(MARKER.encode())
        and entry.size == len(MARKER.encode())
    )
    verdict = run_checks(package, trust_roots=_roots(demo_keys), expected_sheets=1, texts=True)
    assert verdict.ok, [(c.name, c.reasons) for c in verdict.failures]
    assert verdict.texts == {doc.doc_id: MARKER}  # the package's file, not pdftotext of the PDF
    assert texts_from_zip(package, contents.folder, contents.documents) == {doc.doc_id: MARKER}


def test_a_package_without_a_text_layer_still_ingests_with_pdftotext(tmp_path, signed_pdf, demo_keys, hoso_fields):
    package = _build(tmp_path, signed_pdf, hoso_fields, "")
    contents = read_package(package)
    assert [d.text_member for d in contents.documents] == [""]
    assert not [n for n in zipfile.ZipFile(package).namelist() if n.endswith(".txt")]
    verdict = run_checks(package, trust_roots=_roots(demo_keys), expected_sheets=1, texts=True)
    assert verdict.ok, [(c.name, c.reasons) for c in verdict.failures]
    expected = pdf_text(signed_pdf)
    assert "\f" in expected and expected.strip()
    assert verdict.texts == {contents.documents[0].doc_id: expected}
    assert texts_from_zip(package, contents.folder, contents.documents) == {contents.documents[0].doc_id: expected}


def test_the_station_form_is_pdftotexts_own(tmp_path, signed_pdf, demo_keys, hoso_fields):
    """What the station packs (pdftotext of the signed PDF) is byte for byte what the archive would extract."""
    package = _build(tmp_path, signed_pdf, hoso_fields, pdf_text(signed_pdf))
    with_text = run_checks(package, trust_roots=_roots(demo_keys), expected_sheets=1, texts=True)
    without = run_checks(
        _build(tmp_path, signed_pdf, hoso_fields, ""), trust_roots=_roots(demo_keys), expected_sheets=1, texts=True
    )
    assert with_text.ok and without.ok
    assert list(with_text.texts.values()) == list(without.texts.values())


def test_the_builder_refuses_a_text_layer_that_does_not_count_the_pages(tmp_path, signed_pdf, hoso_fields):
    with pytest.raises(PackageError, match="text layer has 2 pages, the PDF 1"):
        _build(tmp_path, signed_pdf, hoso_fields, "một\ftrang hai\f")


def test_a_text_file_with_a_wrong_checksum_is_a_fixity_finding(tmp_path, signed_pdf, demo_keys, hoso_fields):
    package = _build(tmp_path, signed_pdf, hoso_fields, MARKER)
    member = read_package(package).documents[0].text_member
    _rewrite(package, {member: "Văn bản khác của trạm\n\f".encode()})
    verdict = run_checks(package, trust_roots=_roots(demo_keys), expected_sheets=1, only=STRUCTURAL)
    [fixity] = [c for c in verdict.checks if c.name == "fixity"]
    assert not verdict.ok and not fixity.ok
    assert any(r.startswith(f"{member}: SHA-256") for r in fixity.reasons), fixity.reasons


def test_a_text_file_not_in_mets_is_a_finding(tmp_path, signed_pdf, demo_keys, hoso_fields):
    package = _build(tmp_path, signed_pdf, hoso_fields, "")
    _rewrite(package, {}, add={"representations/rep1/data/text/extra.txt": MARKER.encode()})
    verdict = run_checks(package, trust_roots=_roots(demo_keys), expected_sheets=1, only=STRUCTURAL)
    [listed] = [c for c in verdict.checks if c.name == "files_listed"]
    assert "present but not listed in any METS: representations/rep1/data/text/extra.txt" in listed.reasons


def test_a_missing_or_unlinked_text_file_is_a_finding(tmp_path, signed_pdf, demo_keys, hoso_fields):
    package = _build(tmp_path, signed_pdf, hoso_fields, MARKER)
    member = read_package(package).documents[0].text_member
    _rewrite(package, {member: None})
    verdict = run_checks(package, trust_roots=_roots(demo_keys), expected_sheets=1, only=STRUCTURAL)
    [listed] = [c for c in verdict.checks if c.name == "files_listed"]
    assert f"listed in METS but missing: {member}" in listed.reasons

    package = _build(tmp_path, signed_pdf, hoso_fields, MARKER)
    rep = "representations/rep1/METS.xml"
    with zipfile.ZipFile(package) as zf:
        tree = etree.fromstring(zf.read(f"{read_package(package).folder}/{rep}"))
    div = tree.find(".//{http://www.loc.gov/METS/}div[@LABEL='MetadataLink/File']")
    div.remove(div.findall("{http://www.loc.gov/METS/}fptr")[1])
    _rewrite(package, {rep: etree.tostring(tree, xml_declaration=True, encoding="UTF-8")})
    verdict = run_checks(package, trust_roots=_roots(demo_keys), expected_sheets=1, only=STRUCTURAL)
    [listed] = [c for c in verdict.checks if c.name == "files_listed"]
    assert f"text file not linked to a document in structMap: {member}" in listed.reasons


def _job_zip(tmp: Path, pdf: Path, text: bytes) -> pdfwork.Job:
    package = tmp / "p.zip"
    with zipfile.ZipFile(package, "w") as zf:
        zf.write(pdf, "p/doc.pdf")
        zf.writestr("p/doc.txt", text)
    return pdfwork.Job(package, "p/doc.pdf", tmp / "doc-1.pdf", [], text=True, text_member="p/doc.txt")


@pytest.mark.parametrize(
    "text", [b"hai\ftrang\f", "không phải UTF-8\f".encode("utf-16"), "không có ngắt trang".encode()]
)
def test_a_text_layer_whose_pages_do_not_count_the_pdfs_falls_back_to_pdftotext(tmp_path, signed_pdf, caplog, text):
    """Two pages for a one-page PDF, not UTF-8, no form feed at all: the catalogue reads the PDF, and says why."""
    with caplog.at_level(logging.WARNING, logger="server.checks.pdfwork"):
        found = pdfwork.inspect(_job_zip(tmp_path, signed_pdf, text))
    assert found.pages == 1
    assert not found.text_packed and found.text == pdf_text(signed_pdf)
    assert "the catalogue takes pdftotext's text" in caplog.text


def test_a_text_layer_that_counts_the_pages_is_taken_as_it_is(tmp_path, signed_pdf):
    found = pdfwork.inspect(_job_zip(tmp_path, signed_pdf, MARKER.encode()))
    assert found.text_packed and found.text == MARKER and found.pages == 1
