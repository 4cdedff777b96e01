"""Shared fixtures: real HTTP servers on 127.0.0.1, demo signing keys, a real signed package."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.records import AGENCY, hoso_record
from tests.support.servers import CuttingProxy, LiveServer, ServerProcess, serving
from tests.support.web import seed_accounts

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

pytest_plugins = ["tests.support.fdwatch"]  # every test closes what it opens (paho's select() needs fds < 1024)

STRESS_TIMEOUT_S = 3600  # a stress run repeats a default test hundreds of times: the suite's 600 s is for one


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("stress") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(STRESS_TIMEOUT_S))


@pytest.fixture(scope="session", autouse=True)
def check_workers():
    """The server's check workers are one pool per process (server/checks/pdfwork.py), started by the first
    server: started here, at session set-up, so their pipes are not charged to the first module that ingests."""
    from server.checks import pdfwork

    pdfwork.warm()
    assert pdfwork.ready(timeout=120) is not None or pdfwork.workers() == 1, "the check workers did not start"
    yield


@pytest.fixture(scope="session")
def demo_keys(tmp_path_factory):
    from station.output.keys import ensure_demo_ca

    return ensure_demo_ca(tmp_path_factory.mktemp("keys"), agency_name=AGENCY)


@pytest.fixture(scope="session")
def signer(demo_keys):
    import asyncio

    from station.output.signing import Signer

    signer = Signer.from_pkcs12(demo_keys.agency_p12, demo_keys.passphrase)
    # Its event loop (three descriptors) made now, at session set-up, rather than in the first test that signs.
    signer._run(asyncio.sleep(0))
    yield signer
    signer.close()


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


@pytest.fixture(scope="session")
def sane_test_device(tmp_path_factory: pytest.TempPathFactory) -> str:
    """'test:0' of the SANE test backend, configured (A4-capable) before anything calls sane.init()."""
    from station.capture.saneenv import prepare_sane_config

    prepare_sane_config(tmp_path_factory.mktemp("sane"), backends=("test",))
    # The SANE worker's watchdog: the test backend answers within milliseconds, so a hang shows in 20 s
    # rather than the 86 s a real A4 scanner gets (children, e.g. the CLI in the crash test, inherit it).
    os.environ.setdefault("SOHOA_SANE_WATCHDOG_S", "20")
    from station.capture.sane_source import discover as list_devices

    devices = [d["id"] for d in list_devices(timeout=10)]
    assert "test:0" in devices, f"SANE test backend not found (got {devices}): install sane-backends/libsane"
    return "test:0"


@pytest.fixture
def station(tmp_path: Path, sane_test_device: str) -> Iterator[object]:
    """A real Station (SANE test backend, processing pool, store) with the operators of seed_accounts."""
    from station.config import StationConfig
    from station.service import Station

    st = Station(StationConfig(data_dir=tmp_path / "station", device=sane_test_device, workers=1))
    st.start()
    seed_accounts(st.store)
    yield st
    st.stop()


@pytest.fixture
def make_package(tmp_path, signed_pdf):
    """Build a real TT05 package around the signed document; keyword arguments change the hồ sơ."""
    from protocol.clock import iso_vn
    from protocol.metadata import DocumentRecord, FileRecord
    from protocol.package import PackageDocument, PremisEvent, build_package

    def make(*, text: bool = True, **over) -> object:
        """`text=False`: no text layer packed (a package made before text layers travelled)."""
        from protocol.pdftext import pdf_text

        hoso = FileRecord(**hoso_record(**over))
        hoso.total_doc, hoso.number_of_page = 1, 1
        doc = DocumentRecord(ordinal=1, type_name="02", issued_date="04/03/2001", organ_name=AGENCY,
                             subject="Quyết định về việc cấp giấy chứng nhận", number_of_page=1)
        out = tmp_path / f"pkg-{len(list(tmp_path.glob('pkg-*')))}"
        out.mkdir()
        layer = pdf_text(signed_pdf) if text else ""
        return build_package(hoso=hoso, documents=[PackageDocument(record=doc, pdf_path=signed_pdf, page_count=1,
                                                                   text=layer)],
                             events=[PremisEvent(event_type="transfer", at=iso_vn(), agent="person:op1",
                                                 detail="digitisation", objects=[doc.doc_id(hoso.file_code)])],
                             out_dir=out)

    return make


@pytest.fixture
def archive_server(tmp_path, demo_keys) -> Iterator[tuple[LiveServer, object]]:
    """The real server app (ingest, checks, storage, catalog) on a free port, with one station account."""
    from server.app import build_context
    from server.config import ServerConfig

    config = ServerConfig(data_dir=tmp_path / "server", trust_roots=[demo_keys.ca_pem])
    context = build_context(config)
    with serving(context) as live:
        yield live, context


@pytest.fixture
def server_process(tmp_path, demo_keys) -> Iterator[ServerProcess]:
    """The archive server as a separate process (not started: call .start())."""
    server = ServerProcess(tmp_path / "server", demo_keys.ca_pem)
    yield server
    server.stop()


@pytest.fixture
def cutting_proxy():
    """A factory: cutting_proxy(target_port) -> CuttingProxy, closed after the test."""
    made: list[CuttingProxy] = []

    def make(target_port: int) -> CuttingProxy:
        made.append(CuttingProxy(target_port))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


@pytest.fixture
def hoso_fields():
    """`hoso_record(**over)` (tests.support.records) as a fixture."""
    return hoso_record


@pytest.fixture
def live_server_class():
    """The LiveServer class (tests.support.servers) as a fixture."""
    return LiveServer
