"""A demo certificate authority and agency signing key, for the demo and the tests only.

Every certificate made here says "DEMO — KHÔNG DÙNG THẬT / not for production" in its subject, so a
document signed with it can never pass as an agency's real signature. Production keys come from the
government CA on a USB token (PKCS#11) or a PKCS#12 file the operator configures.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocol.durable import write_atomic

DEMO_LABEL = "DEMO — KHÔNG DÙNG THẬT / not for production"


@dataclass(frozen=True)
class DemoKeys:
    folder: Path
    ca_pem: Path
    agency_p12: Path
    passphrase_file: Path
    passphrase: bytes


@dataclass(frozen=True)
class Issued:
    """A certificate with its key, as made by `issue_certificate`."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    def p12(self, passphrase: bytes | None, chain: list[x509.Certificate] | None = None) -> bytes:
        encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                      else serialization.NoEncryption())
        return pkcs12.serialize_key_and_certificates(b"agency", self.key, self.cert, chain, encryption)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64]),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, DEMO_LABEL),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
    ])


def make_root_ca(*, name: str = "sohoa demo root CA", days: int = 3650) -> Issued:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = _name(name, "sohoa demo")
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def issue_certificate(ca: Issued, *, agency_name: str, not_before: datetime | None = None,
                      not_after: datetime | None = None, signing: bool = True) -> Issued:
    """An agency certificate signed by `ca`. `signing=False` leaves out the signing key usages (tests)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    not_before = not_before or now - timedelta(days=1)
    not_after = not_after or now + timedelta(days=3 * 365)
    usage = x509.KeyUsage(digital_signature=signing, content_commitment=signing, key_encipherment=not signing,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    builder = (
        x509.CertificateBuilder().subject_name(_name(agency_name, agency_name))
        .issuer_name(ca.cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                       critical=False)
    )
    if signing:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, x509.ObjectIdentifier(
                "1.3.6.1.5.5.7.3.36")]), critical=False)  # id-kp-documentSigning
    return Issued(key, builder.sign(ca.key, hashes.SHA256()))


def _write_private(path: Path, data: bytes) -> None:
    write_atomic(path, data, mode=0o600)


def ensure_demo_ca(folder: Path, *, agency_name: str) -> DemoKeys:
    """Create the demo CA and agency key in `folder` once; later calls return what is there."""
    folder = Path(folder)
    ca_pem, p12, pass_file = folder / "ca.pem", folder / "agency.p12", folder / "agency.pass"
    if not (ca_pem.is_file() and p12.is_file() and pass_file.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        ca = make_root_ca()
        agency = issue_certificate(ca, agency_name=agency_name)
        passphrase = secrets.token_urlsafe(18).encode()
        _write_private(pass_file, passphrase + b"\n")
        _write_private(p12, agency.p12(passphrase, [ca.cert]))
        _write_private(folder / "ca.key", ca.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase)))
        (folder / "README.txt").write_text(f"{DEMO_LABEL}\nDemo CA and signing key made by sohoa for "
                                           f"{agency_name}. Never use them for real documents.\n",
                                           encoding="utf-8")
        write_atomic(ca_pem, ca.cert_pem())  # written last: its presence means the set is complete
    return DemoKeys(folder, ca_pem, p12, pass_file, pass_file.read_bytes().strip())
