"""The package's inventory: listed == present, fixity, schemas, identifiers."""

from __future__ import annotations

from protocol.i18n import N_
from protocol.metadata import doc_code, split_file_code
from protocol.package import schemas
from protocol.package.model import (
    EAD,
    REP_METS,
    ROOT_METS,
    TEXT_USE,
    PackageError,
    data_path,
    ead_doc_path,
    text_path,
)
from server.checks.context import Context
from server.checks.result import CheckResult


def _escapes(path: str) -> bool:
    return path.startswith(("/", "../")) or path == ".." or "\\" in path or ":" in path.split("/")[0]


def check_files_listed(ctx: Context) -> CheckResult:
    """Every file METS lists is present, every present file is listed, every data file is linked."""
    c = ctx.need_contents()
    reasons = [f"{p}" for p in c.problems]
    listed = {e.path for e in c.files}
    present = set(c.members)
    for e in c.files:
        if not e.path:
            reasons.append(f"{e.mets}: a reference without a path")
        elif _escapes(e.path):
            reasons.append(f"{e.mets}: reference {e.path!r} points outside the package")
    for path in sorted(listed - present):
        if path and not _escapes(path):
            reasons.append(f"listed in METS but missing: {path}")
    for path in sorted(present - listed - {ROOT_METS}):
        reasons.append(f"present but not listed in any METS: {path}")
    data_files = {e.path for e in c.files if e.use == "Data"}
    linked = {d.pdf_member for d in c.documents}
    for path in sorted(data_files - linked):
        reasons.append(f"data file not linked to a document in structMap: {path}")
    text_files = {e.path for e in c.files if e.use == TEXT_USE}
    for path in sorted(text_files - {d.text_member for d in c.documents}):
        reasons.append(f"text file not linked to a document in structMap: {path}")
    for d in c.documents:
        if not d.pdf_member:
            reasons.append(f"document {d.doc_id or d.metadata_path!r} has no data file")
        if not d.metadata_path:
            reasons.append(f"document {d.doc_id or d.pdf_member!r} has no metadata (dmdSec)")
    if not c.documents:
        reasons.append("no documents (MetadataLink/File) in representations/rep1/METS.xml")
    return CheckResult(
        "files_listed", not reasons, reasons, N_("The file list in METS does not match the package's content")
    )


def check_fixity(ctx: Context) -> CheckResult:
    """Every listed file's size equals SIZE and its SHA-256 equals CHECKSUM."""
    c, source = ctx.need_contents(), ctx.need_source()
    reasons: list[str] = []
    present, bombs = set(c.members), ctx.bomb_members()
    if ctx.too_big():
        return CheckResult(
            "fixity",
            False,
            ["package larger than the configured limit: not hashed"],
            N_("The package is too big: its hashes were not checked"),
        )
    hashed = ctx.pdf_digests()  # the PDFs, hashed by the PDF work as it took them out
    for e in c.files:
        if e.path not in present:
            continue  # reported by files_listed
        name = ctx.member(e.path)
        if name in bombs:
            reasons.append(f"{e.path}: not hashed (zip bomb suspected)")
            continue
        try:
            size, digest = hashed[name] if name in hashed else source.sha256(name)
        except PackageError as exc:
            reasons.append(f"{e.path}: unreadable ({exc})")
            continue
        if size != e.size:
            reasons.append(f"{e.path}: size {size} but {e.mets} says {e.size}")
        if digest != e.sha256:
            reasons.append(f"{e.path}: SHA-256 {digest} but {e.mets} says {e.sha256 or '(none)'}")
    return CheckResult("fixity", not reasons, reasons, N_("A file's size or SHA-256 hash does not match"))


def check_schemas(ctx: Context) -> CheckResult:
    """METS (both levels), EAD, every EAD_DOC and PREMIS valid against the profile's XSDs (ours, not
    the ones the package ships: a hostile package could ship a permissive schema)."""
    c, source = ctx.need_contents(), ctx.need_source()
    reasons: list[str] = []
    if c.kind not in ("SIP", "AIP"):
        reasons.append(f"unknown package type {c.kind!r} (csip:OAISPACKAGETYPE must be SIP or AIP)")
    kind = c.kind if c.kind in ("SIP", "AIP") else "SIP"
    targets = [
        (ROOT_METS, "mets.xsd"),
        (REP_METS, "mets.xsd"),
        (EAD, schemas.ead_schema_name(kind=kind, document=False)),
    ]
    targets += [
        (d.metadata_path, schemas.ead_schema_name(kind=kind, document=True))
        for d in c.documents
        if d.metadata_path
    ]
    targets += [(e.path, "premis.xsd") for e in c.files if e.use == "mdRef" and "PREMIS" in e.path]
    for path, xsd in targets:
        if path not in c.members:
            continue  # files_listed reports it
        try:
            data = source.read(ctx.member(path))
        except PackageError as exc:
            reasons.append(f"{path}: {exc}")
            continue
        reasons += [f"{path}: {r}" for r in schemas.validate(xsd, data)]
        if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data:
            reasons.append(f"{path}: DTDs and entities are not allowed")
    return CheckResult("schemas", not reasons, reasons, N_("An XML file is not valid against the TT05 schemas"))


def check_identifiers(ctx: Context) -> CheckResult:
    """docId = fileCode.ordinal, docCode = fileCode + 7 digits, file names from docIds, ordinals 1..n."""
    import re

    c = ctx.need_contents()
    reasons: list[str] = []
    fc = c.file_code
    if not fc:
        reasons.append("no fileCode found (EAD fileCode / METS altRecordID)")
    elif split_file_code(fc) is None:
        reasons.append(f"fileCode {fc!r} is not <agency id>.<year>.<number and symbol>")
    arc = c.hoso.get("arcFileCode", "")
    if c.kind == "AIP" and fc and not arc.endswith(fc):
        reasons.append(f"arcFileCode {arc!r} does not contain fileCode {fc!r}")
    if c.kind == "SIP" and c.hoso.get("fileCode") and c.hoso.get("fileCode") != fc:
        reasons.append("EAD fileCode differs from the METS altRecordID")
    ordinals = [d.ordinal for d in c.documents]
    if sorted(ordinals) != list(range(1, len(ordinals) + 1)):
        reasons.append(f"document ordinals must run 1..{len(ordinals)} without gaps, got {sorted(ordinals)}")
    seen: set[str] = set()
    for d in c.documents:
        label = d.doc_id or d.metadata_path
        if d.doc_id in seen:
            reasons.append(f"duplicate docId {d.doc_id!r}")
        seen.add(d.doc_id)
        if d.ordinal < 1:
            reasons.append(f"{label}: no valid ordinal")
            continue
        if d.doc_id != f"{fc}.{d.ordinal}":
            reasons.append(f"{label}: docId should be {fc}.{d.ordinal}")
        if d.doc_code != doc_code(fc, d.ordinal):
            reasons.append(f"{label}: docCode {d.doc_code!r} should be {doc_code(fc, d.ordinal)!r}")
        if d.pdf_member and d.pdf_member != data_path(d.doc_id):
            reasons.append(f"{label}: data file {d.pdf_member!r} should be {data_path(d.doc_id)!r}")
        if d.text_member and d.text_member != text_path(d.doc_id):
            reasons.append(f"{label}: text file {d.text_member!r} should be {text_path(d.doc_id)!r}")
        if d.metadata_path and d.metadata_path != ead_doc_path(d.doc_id):
            reasons.append(f"{label}: metadata file {d.metadata_path!r} should be {ead_doc_path(d.doc_id)!r}")
        if c.kind == "AIP" and d.fields.get("arcFileCode", arc) != arc:
            reasons.append(f"{label}: arcFileCode differs from the hồ sơ's")
    for e in c.files:
        if e.use and e.use != "mdRef" and e.file_id and not re.match(r"^ID-[0-9A-F-]{36}$", e.file_id):
            reasons.append(f"{e.path}: file ID {e.file_id!r} is not ID-<UUID>")
    return CheckResult(
        "identifiers", not reasons, reasons, N_("The hồ sơ code, document codes or file names are not consistent")
    )
