"""One document's PDF from its finished pages: PDF/A-2b in memory, signed straight into place, checked.

The station's Finish and `sohoa pdf` both end here, so a file from either is built, signed and checked alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.durable import write_atomic
from protocol.pdfa_check import check_pdfa
from station.output.pages import FinishedPage
from station.output.pdfa import PdfMeta, PdfPage, build_pdfa_bytes


@dataclass(frozen=True)
class BuiltDocument:
    path: Path
    pdfa_problems: list[str]
    signed: Any = None  # signing.SignResult when signed


def write_document(
    images: list[tuple[Path, float]],
    finished: list[FinishedPage],
    *,
    meta: PdfMeta,
    out: Path,
    signer: Any = None,
    agency_name: str = "",
    visible: bool = True,
) -> BuiltDocument:
    """Build the two-layer PDF/A of `images` (path, dpi) with their finished pages; sign it when a signer is
    given (signing is the last change). The unsigned PDF is never written when signing."""
    unsigned = build_pdfa_bytes(
        [
            PdfPage(image_path=path, dpi=dpi, text_pdf=f.text_pdf, jpeg=f.jpeg)
            for (path, dpi), f in zip(images, finished, strict=True)
        ],
        meta=meta,
    )
    signed = None
    if signer is not None:
        signed = signer.sign_bytes(unsigned, out, agency_name=agency_name, visible=visible, name=out.name)
    else:
        write_atomic(out, unsigned)
    del unsigned
    return BuiltDocument(path=out, pdfa_problems=check_pdfa(out), signed=signed)
