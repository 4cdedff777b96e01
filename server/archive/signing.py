"""The archive's own name and signature: one key (`archive_signer_p12` in server.toml, else
`<data_dir>/keys/archive.p12`) and one way to sign with it, for everything the archive signs (biên bản
nghiệm thu, certified copies, the authentication sheet of a DIP). PAdES as an incremental update, so a
PDF/A stays a PDF/A."""

from __future__ import annotations

import functools
import io
from datetime import datetime
from pathlib import Path
from typing import Any

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from protocol.clock import now_vn
from protocol.errors import UserError
from protocol.i18n import N_
from protocol.signatures import pin_modification_time


def archive_name(config: Any) -> str:
    """The archive's name, as it signs and marks copies (`archive_name` in server.toml)."""
    return getattr(config, "archive_name", "") or "Lưu trữ lịch sử"


class ArchiveKeyError(UserError):
    """The archive's signing key is missing or cannot be opened: an administrator must configure it."""

    status = 503
    key = "archive_key"


def archive_key(config: Any) -> tuple[Path, Path | None]:
    """The archive's PKCS#12 and its passphrase file; refuses (before anything changes) when it is missing."""
    p12 = Path(config.archive_signer_p12 or Path(config.data_dir) / "keys" / "archive.p12")
    if not p12.is_file():
        raise ArchiveKeyError(
            N_("no archive signing key at %(p12)s (set archive_signer_p12 in server.toml)"), p12=p12)
    pw = config.archive_signer_passphrase_file
    return p12, (Path(pw) if pw else None)


@functools.lru_cache(maxsize=4)
def _signer(p12: Path, passphrase_file: Path | None, _mtime: float) -> signers.SimpleSigner:
    passphrase = passphrase_file.read_bytes().strip() if passphrase_file else None
    signer = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=passphrase)
    if signer is None:
        raise ArchiveKeyError(N_("cannot open the archive signing key %(p12)s (wrong passphrase or damaged file)"),
                              p12=p12)
    return signer


def sign(data: bytes, config: Any, *, field: str, reason: str, name: str | None = None,
         when: datetime | None = None) -> bytes:
    """`data` signed by the archive (PAdES baseline B, invisible) in the signature field `field`."""
    p12, passphrase_file = archive_key(config)
    signer = _signer(p12, passphrase_file, p12.stat().st_mtime)
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    pin_modification_time(writer, when or now_vn())
    meta = signers.PdfSignatureMetadata(field_name=field, md_algorithm="sha256", name=name,
                                        subfilter=fields.SigSeedSubFilter.PADES, reason=reason,
                                        location="Việt Nam")
    out = io.BytesIO()
    signers.PdfSigner(meta, signer=signer).sign_pdf(writer, output=out)
    return out.getvalue()
