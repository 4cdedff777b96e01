"""Receipts: the server's signature covers every field; a forged or altered receipt is refused."""

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.api import Receipt, sign_receipt, verify_receipt


def _receipt() -> Receipt:
    return Receipt(upload_id="u1", station_id="tram-01", sha256="A" * 64, verdict="accepted", objid="urn:x",
                   file_code="000.00.00.H47.2001.160.VP", received_at="2026-11-25T10:00:00.000+07:00",
                   reasons=[], checks=[{"name": "zip_safety", "ok": True, "reasons": []}])


def test_signed_receipt_verifies():
    key = Ed25519PrivateKey.generate()
    receipt = sign_receipt(_receipt(), key)
    assert verify_receipt(receipt, key.public_key())
    assert verify_receipt(Receipt.from_dict(receipt.to_dict()), key.public_key())


def test_altered_receipt_fails():
    key = Ed25519PrivateKey.generate()
    receipt = sign_receipt(_receipt(), key)
    receipt.verdict = "rejected"
    assert not verify_receipt(receipt, key.public_key())


def test_other_key_fails():
    receipt = sign_receipt(_receipt(), Ed25519PrivateKey.generate())
    assert not verify_receipt(receipt, Ed25519PrivateKey.generate().public_key())
    receipt.signature = "not base64!"
    assert not verify_receipt(receipt, Ed25519PrivateKey.generate().public_key())
