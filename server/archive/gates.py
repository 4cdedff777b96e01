"""Acceptance (nghiệm thu), first layer: automatic gates on every page of a hồ sơ before a person looks.

Each gate is a verdict on the stored hồ sơ: True (holds), False (fails, with the details) or None (not
checked by sohoa yet — shown as such, never as passed). Most gates restate the ingest checks of these exact
bytes (their receipt); the others are read here: the stored package still matches its hash, every page has
a text layer, and a digitised hồ sơ (confidenceLevel 02) names its paper original (paperFileCode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# gate -> the ingest checks it restates
FROM_RECEIPT = {
    "pdfa": ("pdfa",),
    "signature": ("signatures", "signing_time"),
    "counts": ("counts",),
    "names_checksums": ("identifiers", "files_listed", "fixity", "schemas"),
}


@dataclass
class Gate:
    name: str
    ok: bool | None
    details: list[str] = field(default_factory=list)


def pages_without_text(text: str, page_count: int) -> list[int]:
    """1-based pages of a document whose text layer (pdftotext, pages split by form feeds) is blank."""
    pages = (text or "").split("\f")
    return [n for n in range(1, page_count + 1) if n > len(pages) or not pages[n - 1].strip()]


def dpi_colour(images: dict[str, dict[str, Any]] | None, rules: Any) -> Gate:
    """CAP-05/06 on every page: `images` is doc_id -> {"type": typeName, "pages": protocol.pdfa_check.page_images};
    `rules` the [acceptance] configuration (dpi by document type, colour depth)."""
    if images is None:
        return Gate("dpi_colour", None, ["the documents could not be read"])
    bad = []
    for doc_id, doc in images.items():
        need = rules.dpi_drawings if doc.get("type", "") in rules.drawing_types else rules.dpi_default
        for p in doc["pages"]:
            if p["dpi"] < need * 0.98:  # page sizes are rounded to 1/100 pt by writers
                bad.append(f"{doc_id}: page {p['page']}: {p['dpi']:.0f} dpi < {need}")
            if p["bits"] < rules.colour_bits or not p["rgb"]:
                bad.append(f"{doc_id}: page {p['page']}: {p['bits']}-bit, not {rules.colour_bits}-bit colour")
    return Gate("dpi_colour", not bad, bad)


def evaluate(*, hoso: dict[str, str], documents: list[dict[str, Any]], receipt: dict[str, Any] | None,
             package_ok: bool, images: dict[str, dict[str, Any]] | None = None, rules: Any = None) -> list[Gate]:
    """`documents`: dicts with doc_id, page_count and text (the catalogue's rows); `images` and `rules`:
    see dpi_colour (without rules the gate is shown as not checked)."""
    out = [Gate("package_intact", package_ok, [] if package_ok else ["the stored package no longer matches its hash"])]
    checks = {c["name"]: c for c in (receipt or {}).get("checks", [])}
    for gate, names in FROM_RECEIPT.items():
        if not receipt:
            out.append(Gate(gate, None, ["no ingest receipt"]))
            continue
        failed = [f"{n}: {'; '.join(checks[n].get('reasons') or ['failed'])}" for n in names
                  if n in checks and not checks[n]["ok"]]
        missing = [n for n in names if n not in checks]
        out.append(Gate(gate, None if missing and not failed else not failed,
                        failed + [f"{n}: not run" for n in missing]))
    blank = [f"{d['doc_id']}: page {p}" for d in documents
             for p in pages_without_text(d.get("text", ""), int(d.get("page_count") or 0))]
    out.append(Gate("text_every_page", not blank, blank))
    digitised = (hoso.get("confidenceLevel") or "").strip() == "02"
    paper = bool((hoso.get("paperFileCode") or "").strip())
    out.append(Gate("paper_file_code", paper or not digitised,
                    [] if paper or not digitised else ["digitised hồ sơ (confidenceLevel 02) without paperFileCode"]))
    out.append(dpi_colour(images, rules) if rules is not None
               else Gate("dpi_colour", None, ["resolution by document type and colour depth: no rules given"]))
    return out
