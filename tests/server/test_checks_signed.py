"""The rest of the hostile corpus: real, well-formed packages whose documents fail on PDF/A or on the
agency signature (unsigned, untrusted CA, changed after signing, expired certificate, implausible signing
time). With the structural corpus in test_checks.py these make more than 30 packages, each rejected for
its own reason while every unrelated check still passes."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pikepdf
import pytest

from server.checks import CHECKS, STRUCTURAL, run_checks

AGENCY = "Ủy ban nhân dân tỉnh Đồng Nai"
ISSUED = "04/03/2001"


@pytest.fixture(scope="module")
def unsigned(signed_pdf: Path) -> Path:
    path = signed_pdf.parent / "unsigned.pdf"  # the PDF/A the session fixture signed
    assert path.is_file(), "the signed_pdf fixture no longer leaves its unsigned PDF/A beside it"
    return path


def _signer(tmp: Path, issued):
    from station.output.signing import Signer

    p12 = tmp / f"key-{id(issued)}.p12"
    p12.write_bytes(issued.p12(b"pw"))
    return Signer.from_pkcs12(p12, b"pw")


def _sign(tmp: Path, src: Path, issued, when: datetime | None = None) -> Path:
    dst = tmp / "doc.pdf"
    _signer(tmp, issued).sign(src, dst, agency_name=AGENCY, when=when)
    return dst


def _trusted(demo_keys):
    """An agency certificate issued by the demo root the server trusts (the CA key comes from its p12)."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    from station.output.keys import Issued

    data = demo_keys.agency_p12.read_bytes()
    key, cert, _ = pkcs12.load_key_and_certificates(data, demo_keys.passphrase)
    return Issued(key, cert)


def _untrusted(tmp, unsigned, demo_keys):
    from station.output.keys import issue_certificate, make_root_ca

    return _sign(tmp, unsigned, issue_certificate(make_root_ca(name="rogue root CA"), agency_name=AGENCY))


def _expired(tmp, unsigned, demo_keys):
    """A station still signing with a certificate that expired a month ago. Our own Signer refuses such a
    key, so the PDF is signed with pyHanko directly, as a careless or hostile tool would."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    from station.output.keys import issue_certificate, make_root_ca

    now = datetime.now(UTC)
    ca = make_root_ca(name="expired-chain root")
    _expired.ca_pem = ca.cert_pem()  # trusted, so that the expiry is the only fault
    cert = issue_certificate(ca, agency_name=AGENCY, not_before=now - timedelta(days=400),
                             not_after=now - timedelta(days=30))
    p12 = tmp / "expired.p12"
    p12.write_bytes(cert.p12(b"pw"))
    signer = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=b"pw")
    meta = signers.PdfSignatureMetadata(field_name="AgencySignature", subfilter=fields.SigSeedSubFilter.PADES)
    dst = tmp / "doc.pdf"
    with open(unsigned, "rb") as src, open(dst, "wb") as out:
        signers.sign_pdf(IncrementalPdfFileWriter(src, strict=False), meta, signer=signer, output=out)
    return dst


def _tampered(tmp, unsigned, demo_keys):
    src = _sign(tmp, unsigned, _trusted(demo_keys))
    data = bytearray(src.read_bytes())
    middle = len(data) // 2  # inside the page image stream: the PDF still parses, the digest does not match
    data[middle] ^= 0x01
    src.write_bytes(bytes(data))
    return src


def _changed_after_signing(tmp, unsigned, demo_keys):
    from pyhanko.pdf_utils.generic import NameObject, TextStringObject
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    src = _sign(tmp, unsigned, _trusted(demo_keys))
    with open(src, "rb") as handle:
        writer = IncrementalPdfFileWriter(handle, strict=False)
        info = writer.root  # a new revision that changes the catalogue after the signature
        info[NameObject("/Lang")] = TextStringObject("en-US")
        writer.update_root()
        out = tmp / "changed.pdf"
        with open(out, "wb") as dst:
            writer.write(dst)
    return out


def _not_pdfa(tmp, unsigned, demo_keys):
    plain = tmp / "plain.pdf"
    with pikepdf.open(unsigned) as pdf:
        del pdf.Root.OutputIntents
        del pdf.Root.Metadata
        pdf.save(plain)
    return _sign(tmp, plain, _trusted(demo_keys))


def _future(tmp, unsigned, demo_keys):
    return _sign(tmp, unsigned, _trusted(demo_keys), when=datetime.now(UTC) + timedelta(days=3))


def _before_issued(tmp, unsigned, demo_keys):
    from station.output.keys import issue_certificate, make_root_ca

    ca = make_root_ca(name="old root")
    _before_issued.ca_pem = ca.cert_pem()
    cert = issue_certificate(ca, agency_name=AGENCY, not_before=datetime(2000, 1, 1, tzinfo=UTC))
    return _sign(tmp, unsigned, cert, when=datetime(2000, 6, 1, tzinfo=UTC))


#: name -> (make the document's PDF, {check: reason substring}, extra trusted root or None)
SIGNED_CORPUS: dict[str, tuple[Callable, dict[str, str]]] = {
    "unsigned_pdf": (lambda tmp, u, k: shutil.copy(u, tmp / "doc.pdf") and tmp / "doc.pdf",
                     {"signatures": "carries no signature", "signing_time": "no signing time"}),
    "untrusted_ca": (_untrusted, {"signatures": "does not chain to a trusted root"}),
    # pyHanko says OUT_OF_BOUNDS_NO_POE: expired, and no proof the signature existed before
    "expired_certificate": (_expired, {"signatures": "OUT_OF_BOUNDS"}),
    "signed_bytes_changed": (_tampered, {"signatures": "the signed bytes were changed"}),
    "changed_after_signing": (_changed_after_signing, {"signatures": "changed after its last signature"}),
    "not_pdfa": (_not_pdfa, {"pdfa": "OutputIntent"}),
    "signing_time_in_future": (_future, {"signing_time": "in the future"}),
    "signed_before_document_issued": (_before_issued, {"signing_time": "before the document was issued"}),
}


def _package(tmp: Path, pdf: Path, hoso_record, *, text: str = ""):
    """`text`: the document's text layer to pack (protocol.pdftext form); "" packs none, as older stations."""
    from protocol.clock import iso_vn
    from protocol.metadata import DocumentRecord, FileRecord
    from protocol.package import PackageDocument, PremisEvent, build_package

    hoso = FileRecord(**hoso_record())
    doc = DocumentRecord(ordinal=1, type_name="02", issued_date=ISSUED, organ_name=AGENCY,
                         subject="Quyết định về việc cấp giấy chứng nhận", number_of_page=1)
    return build_package(hoso=hoso, documents=[PackageDocument(record=doc, pdf_path=pdf, page_count=1, text=text)],
                         events=[PremisEvent(event_type="transfer", at=iso_vn(), agent="person:op1",
                                             detail="digitisation", objects=[doc.doc_id(hoso.file_code)])],
                         out_dir=tmp / "out")


def test_signed_package_passes_every_check(tmp_path, signed_pdf, demo_keys, hoso_fields):
    verdict = run_checks(_package(tmp_path, signed_pdf, hoso_fields).path, trust_roots=[demo_keys.ca_pem.read_bytes()],
                         expected_sheets=1)
    assert verdict.ok, [(c.name, c.reasons) for c in verdict.failures]
    assert [c.name for c in verdict.checks] == [n for n, _ in CHECKS]


@pytest.mark.parametrize("case", sorted(SIGNED_CORPUS))
def test_signed_hostile_package_rejected_with_reason(tmp_path, unsigned, demo_keys, hoso_fields, case):
    make, expected = SIGNED_CORPUS[case]
    pdf = make(tmp_path, unsigned, demo_keys)
    roots = [demo_keys.ca_pem.read_bytes()]
    extra = getattr(make, "ca_pem", None)  # a case whose chain is otherwise fine trusts its own root
    if extra:
        roots.append(extra)
    verdict = run_checks(_package(tmp_path, pdf, hoso_fields).path, trust_roots=roots, expected_sheets=1)
    by_name = {c.name: c for c in verdict.checks}
    assert not verdict.ok
    for name, reason in expected.items():
        assert not by_name[name].ok, f"{case}: {name} should fail"
        assert any(reason in r for r in by_name[name].reasons), (case, name, by_name[name].reasons)
        assert by_name[name].text("vi")
    for name in STRUCTURAL:  # the package itself is sound: only the document's own defect is reported
        assert by_name[name].ok, (case, name, by_name[name].reasons)
    failed = {c.name for c in verdict.failures}
    assert failed <= set(expected) | {"pdfa", "signatures", "signing_time"}, (case, failed)


def test_corpus_has_at_least_30_packages():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_structural_corpus", Path(__file__).with_name("test_checks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    CORPUS = module.CORPUS  # noqa: N806
    assert len(CORPUS) + len(SIGNED_CORPUS) >= 30
