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
        # poll(), not select(): a long test process holds more than 1024 descriptors by the end of the suite
        self.server = create_server(app, host="127.0.0.1", port=self.port, threads=4, asyncore_loop_timeout=0.1,
                                    asyncore_use_poll=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self.closing = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()
        except OSError:
            if not self.closing:  # closing the socket under the poll loop is how waitress stops here
                raise

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.closing = True
        for channel in list(self.server._map.values()):  # keep-alive connections too: the loop ends at once
            channel.close()
        self.thread.join(timeout=5)


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


# --- appended by the sync/archive engineer: the server as a real process, and a TCP proxy that cuts -----


class ServerProcess:
    """`python -m sohoa.cli server --config ...` on a fixed free port; kill -9 and restart it at will."""

    def __init__(self, data_dir: Path, trust_pem: Path, *, env: dict[str, str] | None = None):
        import sys

        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.data_dir.parent / f"{self.data_dir.name}.toml"
        self.config.write_text(
            f'data_dir = "{self.data_dir}"\nhost = "127.0.0.1"\nport = {self.port}\n'
            f'trust_roots = ["{trust_pem}"]\n', encoding="utf-8")
        self.log = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.argv = [sys.executable, "-m", "sohoa.cli", "server", "--config", str(self.config)]
        self.env = env or {}
        self.proc = None

    def add_station(self, station_id: str) -> dict[str, str]:
        from server.db import ServerDB

        return ServerDB(self.data_dir / "server.db").add_station(station_id)

    def start(self, *, env: dict[str, str] | None = None, timeout: float = 30) -> ServerProcess:
        import subprocess
        import time

        import requests

        run_env = {**os.environ, **self.env, **(env or {})}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         env=run_env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/api/v1/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.05)
        raise AssertionError(f"server did not answer within {timeout} s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL, as a power cut would: no cleanup runs."""
        import signal

        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait(timeout=10)

    def wait_dead(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except Exception:
                self.kill()


@pytest.fixture
def server_process(tmp_path, demo_keys) -> Iterator[ServerProcess]:
    """The archive server as a separate process (not started: call .start())."""
    server = ServerProcess(tmp_path / "server", demo_keys.ca_pem)
    yield server
    server.stop()


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 that the test controls: forward, or cut every connection after
    `cut_after` bytes sent upstream, or drop the answer to a request whose bytes contain `drop_answer_to`."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.cut_after: int | None = None
        self.drop_answer_to: bytes | None = None
        self.upstream_bytes = 0
        self.cuts = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            state = {"dropping": False}
            threading.Thread(target=self._pipe, args=(client, server, True, state), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False, state), daemon=True).start()

    def _cut(self, a: socket.socket, b: socket.socket) -> None:
        self.cuts += 1
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _pipe(self, src: socket.socket, dst: socket.socket, upstream: bool, state: dict) -> None:
        try:
            while data := src.recv(65536):
                if upstream:
                    if self.cut_after is not None and self.upstream_bytes + len(data) > self.cut_after:
                        keep = max(self.cut_after - self.upstream_bytes, 0)
                        dst.sendall(data[:keep])
                        self.upstream_bytes += keep
                        self.cut_after = None  # one cut, then forward again
                        self._cut(src, dst)
                        return
                    self.upstream_bytes += len(data)
                    if self.drop_answer_to and self.drop_answer_to in data:
                        state["dropping"] = True
                        self.drop_answer_to = None
                elif state["dropping"]:
                    self._cut(src, dst)  # the server did the work; its answer never arrives
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._closed = True
        self._sock.close()


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
    """`hoso_record(**over)` for test modules (importing `conftest` by name is ambiguous across folders)."""
    return hoso_record


@pytest.fixture
def live_server_class():
    """The LiveServer class, for tests that build their own app (same reason as hoso_fields)."""
    return LiveServer
