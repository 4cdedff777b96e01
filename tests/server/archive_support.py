"""Shared pieces of the archive workspace tests: a real 3-page signed document (generated Vietnamese pages,
Tesseract vie, PDF/A, PAdES), a real TT05 package of it sent by a real station client to the real server
app on a free port, and web accounts for every role. No tests here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from server.accounts.auth import create_user
from tests.support.web import ADMIN, ARCHIVIST, SUPERVISOR, web_login

FILE_CODE = "000.00.00.H47.2001.160.VP"
PAGES = 3


@dataclass
class Archive:
    url: str
    context: Any
    objid: str
    doc_id: str
    page_texts: list[str]  # the text layer of each page, as pdftotext reads it
    package: Any  # BuiltPackage

    def session(self, who: tuple[str, str] = ARCHIVIST) -> requests.Session:
        return web_login(self.url, *who)


def distinctive_word(page_texts: list[str], page: int) -> str:
    """A word (with diacritics where possible) found on `page` (1-based) and on no other page."""
    from server.catalogue.catalog import fold

    others = fold(" ".join(t for i, t in enumerate(page_texts) if i != page - 1))
    words = [w for w in re.findall(r"\w{4,}", page_texts[page - 1]) if w.isalpha() and fold(w) not in others]
    words.sort(key=lambda w: (fold(w) == w.lower(), -len(w)))  # diacritics first: folding is exercised
    assert words, f"no word only on page {page}"
    return words[0]


@pytest.fixture(scope="module")
def three_page_pdf(tmp_path_factory, signer) -> Path:
    from protocol.clock import now_vn
    from sohoa.samplepages import write_sample_folder
    from station.output.ocr import ocr_page
    from station.output.pdfa import PdfMeta, PdfPage, build_pdfa
    from tests.support.records import AGENCY

    folder = tmp_path_factory.mktemp("doc3")
    images = write_sample_folder(folder / "img", count=PAGES, seed=21, dpi=200)
    pages = [PdfPage(image_path=i, dpi=200, text_pdf=ocr_page(i, dpi=200).text_pdf) for i in images]
    unsigned = folder / "unsigned.pdf"
    build_pdfa(pages, out=unsigned, meta=PdfMeta(title="Quyết định thử", doc_id=f"{FILE_CODE}.1",
                                                 doc_code=f"{FILE_CODE}.0000001", agency=AGENCY, created=now_vn()))
    signed = folder / f"{FILE_CODE}.1.pdf"
    signer.sign(unsigned, signed, agency_name=AGENCY)
    return signed


def build_and_send(tmp_path: Path, pdf: Path, context: Any, url: str, *, station: str = "tram-01", **over: Any) -> Any:
    """A real package of `pdf` (PAGES pages) sent through the station's sync client; returns it."""
    from protocol.clock import iso_vn
    from protocol.metadata import DocumentRecord, FileRecord
    from protocol.package import PackageDocument, PremisEvent, build_package
    from station.sync.client import SyncClient
    from tests.support.records import AGENCY, hoso_record

    hoso = FileRecord(**hoso_record(number_of_paper=PAGES, **over))
    hoso.total_doc, hoso.number_of_page = 1, PAGES
    doc = DocumentRecord(ordinal=1, type_name="02", issued_date="04/03/2001", organ_name=AGENCY,
                         subject="Quyết định về việc cấp giấy chứng nhận quyền sử dụng đất", number_of_page=PAGES)
    doc_id = doc.doc_id(hoso.file_code)
    out = tmp_path / f"pkg-{hoso.file_code}"
    out.mkdir(exist_ok=True)
    events = [
        PremisEvent(event_type="capture", at="2026-12-01T08:00:00.000+07:00", agent="device:test:0",
                    detail="adf side=front sheet=1", objects=[doc_id]),
        PremisEvent(event_type="transfer", at="2026-12-01T08:30:00.000+07:00", agent="person:le.van.quet",
                    detail="digitisation of paper hồ sơ", objects=[doc_id]),
        PremisEvent(event_type="digital signature generation", at=iso_vn(), agent="software:sohoa",
                    detail="PAdES", objects=[doc_id]),
    ]
    from protocol.pdftext import pdf_text

    # the text layer packed as a station packs it (station.finishing): the archive indexes it, not pdftotext
    pkg = build_package(hoso=hoso, documents=[PackageDocument(record=doc, pdf_path=pdf, page_count=PAGES,
                                                              text=pdf_text(pdf))],
                        events=events, out_dir=out)
    creds = context.db.add_station(station, name="Trạm 01" if station == "tram-01" else station)
    receipt = SyncClient(url, station_id=creds["station_id"], token=creds["token"]).send(
        pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={"file_code": hoso.file_code})
    assert receipt.verdict == "accepted", receipt.reasons
    return pkg, doc_id


@pytest.fixture(scope="module")
def archive(tmp_path_factory, demo_keys, three_page_pdf):
    from protocol.pdftext import pdf_text
    from server.app import build_context
    from server.config import ServerConfig
    from tests.support.servers import serving

    tmp = tmp_path_factory.mktemp("archive")
    context = build_context(ServerConfig(data_dir=tmp / "server", trust_roots=[demo_keys.ca_pem]))
    for name, password, role in ((*ADMIN, "admin"), (*SUPERVISOR, "supervisor"), (*ARCHIVIST, "archivist")):
        create_user(context.db, name, password, role=role)
    context.db.add_fonds("P_UBND_DN", "UBND tỉnh Đồng Nai")
    with serving(context) as live:
        pkg, doc_id = build_and_send(tmp, three_page_pdf, context, live.url)
        texts = pdf_text(three_page_pdf).split("\f")[:PAGES]
        yield Archive(live.url, context, pkg.objid, doc_id, texts, pkg)
