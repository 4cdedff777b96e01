"""Check the agency's PAdES signature in a PDF, the same way at the station and at the server.

Always validates against explicit trust roots: pyHanko without them logs a path-building traceback
instead of reporting "untrusted". The verdict says why, in plain reasons, so it can go into a QC report.
"""

from __future__ import annotations

import enum
import io
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.metadata.model import DocumentMetadata
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import SigningError as HankoSigningError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from protocol.clock import VN_TZ, iso_vn

log = logging.getLogger(__name__)


class _OneInstant(DocumentMetadata):
    """Document metadata whose modification time is always the signing instant.

    pyHanko sets `last_modified = "now"` when it writes an update and resolves "now" separately for the Info
    dictionary and for the XMP packet: across a second boundary the two disagree and the signed file fails
    PDF/A (Info /ModDate must equal xmp:ModifyDate). Here "now" means the one instant of the signature."""

    _moment: datetime  # set in __init__ (the metadata class is frozen)

    def __init__(self, moment: datetime):
        super().__init__(last_modified=moment)
        object.__setattr__(self, "_moment", moment)

    def __setattr__(self, name: str, value: object) -> None:
        if name == "last_modified" and value == "now":
            value = self._moment
        super().__setattr__(name, value)


def pin_modification_time(writer: Any, moment: datetime) -> None:
    """One instant for Info and XMP in the update `writer` (a pyHanko IncrementalPdfFileWriter) will write.
    The one pyHanko internal the project uses: the writer's metadata has no public setter (the station's
    ModDate test and the archive's PDF/A check fail if an upgrade breaks it)."""
    writer._meta = _OneInstant(moment)


PADES_SUBFILTER = "/ETSI.CAdES.detached"


@dataclass
class SignatureVerdict:
    ok: bool
    reasons: list[str] = field(default_factory=list)  # empty when ok
    signer: str | None = None
    signed_at: str | None = None  # ISO 8601 +07:00, as the signature claims it
    covers_whole_file: bool = False
    timestamp: str | None = None  # RFC 3161 signature timestamp (PAdES B-T), ISO 8601 +07:00, when present

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_certificates(data: bytes) -> list[asn1_x509.Certificate]:
    """Certificates from PEM (one or many) or DER bytes."""
    if pem.detect(data):
        return [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
    return [asn1_x509.Certificate.load(data)]


def validate_pdf_signatures(pdf: Path | bytes, *, trust_roots: list[bytes]) -> SignatureVerdict:
    """Validate every signature in `pdf` (a file, or its bytes in memory); ok only when there is at least one
    and all of them hold.

    A document is "whole-file covered" when its last signature covers every byte of the file. Reasons
    name each problem: no signature, not PAdES, digest mismatch (tampered), untrusted chain, later
    changes after signing.
    """
    roots = [cert for data in trust_roots for cert in load_certificates(data)]
    if not roots:
        return SignatureVerdict(False, ["no trust roots configured"])
    path = "a PDF in memory" if isinstance(pdf, bytes) else pdf  # for the log
    try:
        with io.BytesIO(pdf) if isinstance(pdf, bytes) else open(pdf, "rb") as handle:
            reader = PdfFileReader(handle, strict=False)
            sigs = reader.embedded_signatures
            if not sigs:
                return SignatureVerdict(False, ["the file carries no signature"])
            reasons: list[str] = []
            verdict = SignatureVerdict(False)
            for index, sig in enumerate(sigs):
                name = sig.field_name or f"#{index}"
                if str(sig.sig_object.get("/SubFilter")) != PADES_SUBFILTER:
                    subfilter = sig.sig_object.get("/SubFilter")
                    reasons.append(f"signature {name} is not PAdES (SubFilter {subfilter})")
                context = ValidationContext(trust_roots=roots, allow_fetching=False)
                status = validate_pdf_signature(sig, context)
                if not status.intact:
                    reasons.append(f"signature {name}: the signed bytes were changed (digest mismatch)")
                elif not status.valid:
                    reasons.append(f"signature {name}: the cryptographic signature does not verify")
                elif not status.trusted:
                    indic = status.trust_problem_indic
                    reasons.append(f"signature {name}: signer certificate does not chain to a trusted root"
                                   + (f" ({indic.name})" if isinstance(indic, enum.Enum) else ""))
                if status.coverage not in (SignatureCoverageLevel.ENTIRE_FILE,
                                           SignatureCoverageLevel.ENTIRE_REVISION):
                    reasons.append(f"signature {name} covers only part of its revision")
                tst = status.timestamp_validity
                if tst is not None:
                    if not (tst.intact and tst.valid):
                        reasons.append(f"signature {name}: its timestamp token does not verify")
                    elif not tst.trusted:
                        reasons.append(f"signature {name}: the timestamp authority does not chain to a "
                                       "trusted root")
                    else:
                        verdict.timestamp = iso_vn(tst.timestamp.astimezone(VN_TZ), millis=False)
                verdict.signer = status.signing_cert.subject.human_friendly
                when = status.signer_reported_dt
                verdict.signed_at = iso_vn(when.astimezone(VN_TZ), millis=False) if when else None
                verdict.covers_whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
            if not verdict.covers_whole_file:
                reasons.append("the file was changed after its last signature")
    except (HankoSigningError, ValueError, OSError, KeyError) as exc:
        log.info("signature validation of %s failed: %s", path, exc)
        return SignatureVerdict(False, [f"cannot read the signature: {exc}"])
    except Exception as exc:  # a corrupt file must give a verdict, never a crash at ingest
        log.info("signature validation of %s failed: %r", path, exc)
        return SignatureVerdict(False, [f"cannot read the file's signature: {exc}"])
    verdict.reasons = reasons
    verdict.ok = not reasons
    return verdict
