"""Signing through a real PKCS#11 token: SoftHSM2 with its own config, a test CA's key and certificate."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from protocol.hashing import sha256_file
from protocol.pdfa_check import check_pdfa
from protocol.signatures import validate_pdf_signatures
from station.output.keys import issue_certificate, make_root_ca
from station.output.signing import Signer, SigningError

AGENCY = "Sở Nội vụ tỉnh Quảng Ninh"
TOKEN, KEY, PIN, SO_PIN = "sohoa-test", "agency", "123456", "12345678"
MODULES = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
]


def _module() -> str:
    for path in MODULES:
        if os.path.exists(path):
            return path
    raise AssertionError("SoftHSM2 PKCS#11 module not found: install the softhsm2 package")


def _run(*args: str) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{args[0]} failed: {proc.stdout}{proc.stderr}"


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    """A fresh SoftHSM2 token (own SOFTHSM2_CONF) holding the agency key and certificate, label `agency`."""
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read by the module at C_Initialize, in this process too
    module = _module()
    _run("softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", SO_PIN)
    ca = make_root_ca(name="sohoa test token CA")
    agency = issue_certificate(ca, agency_name=AGENCY)
    key_der = folder / "key.der"
    key_der.write_bytes(
        agency.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_der = folder / "cert.der"
    cert_der.write_bytes(agency.cert.public_bytes(serialization.Encoding.DER))
    for kind, path in (("privkey", key_der), ("cert", cert_der)):
        _run(
            "pkcs11-tool",
            "--module",
            module,
            "--token-label",
            TOKEN,
            "--login",
            "--pin",
            PIN,
            "--write-object",
            str(path),
            "--type",
            kind,
            "--label",
            KEY,
            "--id",
            "01",
        )
    key_der.unlink()
    yield module, ca.cert_pem()
    if old is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = old


@pytest.fixture(scope="module")
def unsigned(tmp_path_factory):
    from datetime import datetime

    from protocol.clock import VN_TZ
    from sohoa.samplepages import write_sample_folder
    from station.output.ocr import ocr_page
    from station.output.pdfa import PdfMeta, PdfPage, build_pdfa

    folder = tmp_path_factory.mktemp("p11doc")
    [image] = write_sample_folder(folder, count=1, seed=12, dpi=300)
    out = folder / "doc.pdf"
    build_pdfa(
        [PdfPage(image, 300, ocr_page(image, dpi=300).text_pdf)],
        out=out,
        meta=PdfMeta(title="Thử token", doc_id="Z.1", doc_code="Z.0000001", agency=AGENCY, created=datetime.now(VN_TZ)),
    )
    return out


def test_sign_with_token_and_validate(tmp_path, token, unsigned):
    module, ca_pem = token
    signer = Signer.from_pkcs11(module, TOKEN, KEY, PIN)
    try:
        timings = {}
        for visible in (False, True):
            signer.sign(unsigned, tmp_path / "warm.pdf", agency_name=AGENCY, visible=visible)
            started = time.perf_counter()
            for i in range(3):
                dst = tmp_path / f"signed-{visible}-{i}.pdf"
                signer.sign(unsigned, dst, agency_name=AGENCY, visible=visible)
            timings[visible] = (time.perf_counter() - started) / 3
            verdict = validate_pdf_signatures(dst, trust_roots=[ca_pem])
            assert verdict.ok, verdict.reasons
            assert AGENCY in verdict.signer
            assert check_pdfa(dst) == []
        print(
            f"\nsigning with SoftHSM2: invisible {timings[False] * 1000:.0f} ms, "
            f"visible {timings[True] * 1000:.0f} ms per document"
        )
    finally:
        signer.close()


def test_wrong_pin_missing_token_and_key(tmp_path, token, unsigned):
    module, _ = token
    before = sha256_file(unsigned)
    with pytest.raises(SigningError) as err:
        Signer.from_pkcs11(module, TOKEN, KEY, "000000")
    assert "PIN" in err.value.message and "Sai mã PIN" in err.value.text("vi")
    with pytest.raises(SigningError, match="not found"):
        Signer.from_pkcs11(module, "no-such-token", KEY, PIN)
    with pytest.raises(SigningError, match="not found"):
        Signer.from_pkcs11(module, TOKEN, "no-such-key", PIN)
    with pytest.raises(SigningError, match="module not found"):
        Signer.from_pkcs11(str(tmp_path / "nothing.so"), TOKEN, KEY, PIN)
    assert sha256_file(unsigned) == before
    assert not list(tmp_path.iterdir())


def test_module_path_is_known():
    assert Path(_module()).is_file()


def test_dropped_session_is_opened_again_and_the_pin_never_shows(tmp_path, token, unsigned, caplog):
    module, ca_pem = token
    caplog.set_level(logging.DEBUG)
    signer = Signer.from_pkcs11(module, TOKEN, KEY, PIN)
    try:
        signer.sign(unsigned, tmp_path / "first.pdf", agency_name=AGENCY, visible=False)
        first_session = signer._session
        first_session.close()  # what a re-plugged token does to the open session and its key handle
        dst = tmp_path / "after.pdf"
        signer.sign(unsigned, dst, agency_name=AGENCY)
        assert signer._session is not first_session  # a new session, the key found again
        verdict = validate_pdf_signatures(dst, trust_roots=[ca_pem])
        assert verdict.ok, verdict.reasons
        assert check_pdfa(dst) == []
        assert "opened again" in caplog.text
        signer.sign(unsigned, tmp_path / "again.pdf", agency_name=AGENCY)  # and it keeps working
    finally:
        signer.close()
    assert PIN not in caplog.text and PIN not in repr(signer)
