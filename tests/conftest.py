"""Shared fixtures: real HTTP servers on 127.0.0.1, demo signing keys, a real signed package."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

AGENCY = "Ủy ban nhân dân tỉnh Đồng Nai"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A WSGI app served by waitress on 127.0.0.1 in a background thread: real sockets, real HTTP."""

    def __init__(self, app):
        from waitress.server import create_server

        self.port = free_port()
        self.server = create_server(app, host="127.0.0.1", port=self.port, threads=4)
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.close()


@pytest.fixture(scope="session")
def demo_keys(tmp_path_factory):
    from station.output.keys import ensure_demo_ca

    return ensure_demo_ca(tmp_path_factory.mktemp("keys"), agency_name=AGENCY)


@pytest.fixture(scope="session")
def signer(demo_keys):
    from station.output.signing import Signer

    return Signer.from_pkcs12(demo_keys.agency_p12, demo_keys.passphrase)


@pytest.fixture(scope="session")
def signed_pdf(tmp_path_factory, signer) -> Path:
    """One real document: a generated Vietnamese page, OCR (vie), PDF/A-2b, PAdES signature."""
    from protocol.clock import now_vn
    from sohoa.samplepages import write_sample_folder
    from station.output.ocr import ocr_page
    from station.output.pdfa import PdfMeta, PdfPage, build_pdfa

    folder = tmp_path_factory.mktemp("doc")
    [image] = write_sample_folder(folder / "img", count=1, seed=7, dpi=300)
    ocr = ocr_page(image, dpi=300)
    unsigned = folder / "unsigned.pdf"
    build_pdfa([PdfPage(image_path=image, dpi=300, text_pdf=ocr.text_pdf)], out=unsigned,
               meta=PdfMeta(title="Quyết định thử", doc_id="000.00.00.H47.2001.160.VP.1",
                            doc_code="000.00.00.H47.2001.160.VP.0000001", agency=AGENCY, created=now_vn()))
    signed = folder / "000.00.00.H47.2001.160.VP.1.pdf"
    signer.sign(unsigned, signed, agency_name=AGENCY)
    return signed


def hoso_record(**over) -> dict:
    record = {
        "agency_id": "000.00.00.H47", "year": 2001, "notation": "160.VP",
        "title": "Hồ sơ cấp giấy chứng nhận quyền sử dụng đất năm 2001", "maintenance": "01", "mode": "01",
        "language": "01", "start_date": "04/03/2001", "end_date": "28/12/2001", "number_of_paper": 1,
        "paper_file_code": "TTLT.K1-G05-H012.160", "fonds_code": "P_UBND_DN", "agency_name": AGENCY,
    }
    record.update(over)
    return record


@pytest.fixture
def make_package(tmp_path, signed_pdf):
    """Build a real TT05 package around the signed document; keyword arguments change the hồ sơ."""
    from protocol.clock import iso_vn
    from protocol.metadata import DocumentRecord, FileRecord
    from protocol.package import PackageDocument, PremisEvent, build_package

    def make(**over) -> object:
        hoso = FileRecord(**hoso_record(**over))
        hoso.total_doc, hoso.number_of_page = 1, 1
        doc = DocumentRecord(ordinal=1, type_name="02", issued_date="04/03/2001", organ_name=AGENCY,
                             subject="Quyết định về việc cấp giấy chứng nhận", number_of_page=1)
        out = tmp_path / f"pkg-{len(list(tmp_path.glob('pkg-*')))}"
        out.mkdir()
        return build_package(hoso=hoso, documents=[PackageDocument(record=doc, pdf_path=signed_pdf, page_count=1)],
                             events=[PremisEvent(event_type="transfer", at=iso_vn(), agent="person:op1",
                                                 detail="digitisation", objects=[doc.doc_id(hoso.file_code)])],
                             out_dir=out)

    return make


@pytest.fixture
def archive_server(tmp_path, demo_keys) -> Iterator[tuple[LiveServer, object]]:
    """The real server app (ingest, checks, storage, catalog) on a free port, with one station account."""
    from server.app import build_context, create_app
    from server.config import ServerConfig

    config = ServerConfig(data_dir=tmp_path / "server", trust_roots=[demo_keys.ca_pem])
    context = build_context(config)
    with LiveServer(create_app(context)) as live:
        yield live, context
