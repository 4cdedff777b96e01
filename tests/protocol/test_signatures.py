"""validate_pdf_signatures: intact and trusted passes; a changed byte or a foreign root fails."""

from __future__ import annotations

from protocol.signatures import validate_pdf_signatures
from station.output.keys import make_root_ca


def test_intact_signature_is_ok(signed_pdf, demo_keys):
    verdict = validate_pdf_signatures(signed_pdf, trust_roots=[demo_keys.ca_pem.read_bytes()])
    assert verdict.ok, verdict.reasons
    assert verdict.covers_whole_file and verdict.signed_at.endswith("+07:00")
    assert "Đồng Nai" in verdict.signer


def test_tampered_byte_is_invalid(tmp_path, signed_pdf, demo_keys):
    data = bytearray(signed_pdf.read_bytes())
    spot = data.index(b"/DCTDecode") + 2000  # inside the page image, well within the signed range
    data[spot] ^= 0xFF
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    verdict = validate_pdf_signatures(tampered, trust_roots=[demo_keys.ca_pem.read_bytes()])
    assert not verdict.ok
    assert any("changed" in r for r in verdict.reasons), verdict.reasons


def test_wrong_trust_root_is_invalid(signed_pdf):
    other = make_root_ca(name="another CA").cert_pem()
    verdict = validate_pdf_signatures(signed_pdf, trust_roots=[other])
    assert not verdict.ok
    assert any("trusted root" in r for r in verdict.reasons), verdict.reasons


def test_unsigned_and_appended_files(tmp_path, signed_pdf, demo_keys):
    roots = [demo_keys.ca_pem.read_bytes()]
    appended = tmp_path / "appended.pdf"
    appended.write_bytes(signed_pdf.read_bytes() + b"\n% later\n")
    verdict = validate_pdf_signatures(appended, trust_roots=roots)
    assert not verdict.ok and not verdict.covers_whole_file
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(b"%PDF-1.7\n%%EOF\n")
    assert not validate_pdf_signatures(plain, trust_roots=roots).ok
    assert validate_pdf_signatures(signed_pdf, trust_roots=[]).reasons == ["no trust roots configured"]
