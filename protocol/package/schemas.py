"""The profile's XSDs (protocol/schemas/tt05), loaded once, and validation that returns reasons."""

from __future__ import annotations

import functools
from pathlib import Path

import xmlschema

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "tt05"

#: Files shipped in every package's schemas/ folder.
SHIPPED = (
    "mets.xsd",
    "xlink.xsd",
    "DILCISExtensionMETS.xsd",
    "ead.xsd",
    "ead_aip.xsd",
    "ead_doc.xsd",
    "ead_doc_aip.xsd",
    "premis.xsd",
)


@functools.cache
def schema(name: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA_DIR / name))


def ead_schema_name(*, kind: str, document: bool) -> str:
    base = "ead_doc" if document else "ead"
    return f"{base}_aip.xsd" if kind == "AIP" else f"{base}.xsd"


def validate(name: str, data: bytes, *, limit: int = 20) -> list[str]:
    """Every schema error (up to `limit`) in `data` as one-line reasons; [] when valid."""
    from lxml import etree

    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        tree = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    reasons = []
    for error in schema(name).iter_errors(tree):  # type: ignore[arg-type]  # lxml trees work; types-lxml vs xmlschema protocol
        path = error.path or ""
        reasons.append(f"{path}: {error.reason}")
        if len(reasons) >= limit:
            reasons.append("… more errors not shown")
            break
    return reasons
