"""PAdES B-T: an RFC 3161 timestamp from a real HTTP TSA on 127.0.0.1 (pyHanko's DummyTimeStamper answers)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from protocol.clock import VN_TZ
from protocol.hashing import sha256_file
from protocol.signatures import validate_pdf_signatures
from station.output.keys import make_root_ca
from station.output.pdfa import PdfMeta, PdfPage, build_pdfa
from station.output.signing import Signer, SigningError

AGENCY = "Ủy ban nhân dân tỉnh Đồng Nai"


def _tsa_certificate(ca) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sohoa test TSA")]))
        .issuer_name(ca.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca.key, hashes.SHA256())
    )
    return cert, key


class _Tsa:
    """An RFC 3161 TSA over HTTP on 127.0.0.1: POST a TimeStampReq, get a TimeStampResp."""

    def __init__(self):
        self.ca = make_root_ca(name="sohoa test TSA root")
        cert, key = _tsa_certificate(self.ca)
        self.stamper = DummyTimeStamper(
            tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
            tsa_key=asn1_keys.PrivateKeyInfo.load(key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())))
        self.requests = 0
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_error(415)
                    return
                tsa.requests += 1
                reply = tsa.stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def tsa():
    server = _Tsa()
    yield server
    server.close()


@pytest.fixture(scope="module")
def unsigned(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tsa")
    image = folder / "page.png"
    Image.new("RGB", (620, 877), (250, 246, 230)).save(image, dpi=(75, 75))
    out = folder / "doc.pdf"
    build_pdfa([PdfPage(image, 75, None)], out=out,
               meta=PdfMeta(title="Thử dấu thời gian", doc_id="T.1", doc_code="T", agency=AGENCY,
                            created=datetime.now(VN_TZ)))
    return out


def test_signature_carries_a_trusted_timestamp(tsa, unsigned, demo_keys, tmp_path):
    signer = Signer.from_pkcs12(demo_keys.agency_p12, demo_keys.passphrase, tsa_url=tsa.url)
    before = tsa.requests
    dst = tmp_path / "signed.pdf"
    result = signer.sign(unsigned, dst, agency_name=AGENCY)
    assert result.timestamped and tsa.requests > before
    assert dst.read_bytes().startswith(unsigned.read_bytes())  # incremental: the PDF/A is unchanged
    roots = [demo_keys.ca_pem.read_bytes(), tsa.ca.cert_pem()]
    verdict = validate_pdf_signatures(dst, trust_roots=roots)
    assert verdict.ok, verdict.reasons
    assert verdict.timestamp is not None and verdict.timestamp.endswith("+07:00")
    stamped = datetime.fromisoformat(verdict.timestamp)
    assert abs((stamped - datetime.fromisoformat(result.signed_at)).total_seconds()) < 120

    # The server must also trust the TSA: without its root the timestamp is reported, not ignored.
    verdict = validate_pdf_signatures(dst, trust_roots=[demo_keys.ca_pem.read_bytes()])
    assert not verdict.ok and any("timestamp authority" in r for r in verdict.reasons), verdict.reasons


def test_without_tsa_there_is_no_timestamp(unsigned, signer, demo_keys, tmp_path):
    dst = tmp_path / "signed.pdf"
    assert not signer.sign(unsigned, dst, agency_name=AGENCY).timestamped
    verdict = validate_pdf_signatures(dst, trust_roots=[demo_keys.ca_pem.read_bytes()])
    assert verdict.ok and verdict.timestamp is None


def test_unreachable_tsa_signs_nothing(unsigned, demo_keys, tmp_path):
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    signer = Signer.from_pkcs12(demo_keys.agency_p12, demo_keys.passphrase, tsa_url=f"http://127.0.0.1:{port}/")
    before = sha256_file(unsigned)
    dst = tmp_path / "signed.pdf"
    with pytest.raises(SigningError) as err:
        signer.sign(unsigned, dst, agency_name=AGENCY)
    assert "timestamp" in err.value.message and "dấu thời gian" in err.value.text("vi")
    assert not dst.exists() and not list(tmp_path.glob(".*.part"))
    assert sha256_file(unsigned) == before
