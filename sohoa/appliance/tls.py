"""A private CA for one archive and the HTTPS certificate nginx presents; stations pin the CA file.

A public CA is not needed (stations are configured by the archive itself) and would make every other
certificate that CA signs acceptable too. The CA key signs only server certificates: keep it offline
(or at least 0600, root-only) after issuing them.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocol.clock import now_vn
from protocol.durable import write_atomic

CA_DAYS = 3650
SERVER_DAYS = 825  # the longest TLS lifetime clients accept for a server certificate


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    old = os.umask(0o077)  # the key is never readable by others, not even for a moment
    try:
        write_atomic(path, pem)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)


def _start(now: datetime, days: int) -> datetime:
    # A few minutes back for clock skew; further back only for the (test) certificates made already expired.
    return min(now - timedelta(minutes=5), now + timedelta(days=days - 1))


def _name(common_name: str, org: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def make_ca(folder: Path, *, name: str, org: str = "", days: int = CA_DAYS) -> CertPair:
    """Create `ca.crt` and `ca.key` (0600) in `folder`; refuses to overwrite an existing CA."""
    folder = Path(folder)
    pair = CertPair(folder / "ca.crt", folder / "ca.key")
    if pair.cert.exists() or pair.key.exists():
        raise FileExistsError(f"{folder} already holds a CA: delete it first if you really mean to replace it")
    key = ec.generate_private_key(ec.SECP256R1())
    now = now_vn()
    subject = _name(name, org)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_start(now, days)).not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(pair.key, key)
    write_atomic(pair.cert, cert.public_bytes(serialization.Encoding.PEM))
    return pair


def make_server_cert(ca: CertPair, out_dir: Path, *, hostnames: list[str], ips: list[str] | None = None,
                     days: int = SERVER_DAYS, stem: str = "server") -> CertPair:
    """A server certificate for `hostnames`/`ips` signed by `ca`: `<stem>.crt` (with the CA appended, as
    nginx wants the chain) and `<stem>.key` (0600)."""
    if not hostnames and not ips:
        raise ValueError("a server certificate needs at least one host name or IP address")
    ca_cert = x509.load_pem_x509_certificate(Path(ca.cert).read_bytes())
    ca_key = serialization.load_pem_private_key(Path(ca.key).read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)  # make_ca writes an EC key
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips or []]
    now = now_vn()
    cert = (
        x509.CertificateBuilder().subject_name(_name((hostnames or ips or [""])[0], ""))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(_start(now, days)).not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out_dir = Path(out_dir)
    pair = CertPair(out_dir / f"{stem}.crt", out_dir / f"{stem}.key")
    _write_key(pair.key, key)
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    write_atomic(pair.cert, chain)
    return pair
