"""Counts, metadata fields and codes, and the preservation record (PREMIS)."""

from __future__ import annotations

from protocol.i18n import N_
from protocol.metadata import check_document, check_file
from protocol.package.records import document_record, file_record
from server.checks.context import Context, NotReadable
from server.checks.result import CheckResult


def _int(text: str | None) -> int | None:
    try:
        return int(text or "")
    except ValueError:
        return None


def check_counts(ctx: Context) -> CheckResult:
    """totalDoc = documents; each numberOfPage = its PDF's pages; hồ sơ pages = their sum;
    numberOfPaper = the work order's expected sheets (when given)."""
    c = ctx.need_contents()
    reasons: list[str] = []
    total = _int(c.hoso.get("totalDoc"))
    if total != len(c.documents):
        reasons.append(
            f"totalDoc is {c.hoso.get('totalDoc')!r} but the package holds {len(c.documents)} documents"
        )
    declared_sum = 0
    try:
        found = ctx.findings()
    except NotReadable as exc:
        found = {}
        reasons.append(str(exc))
    for d in c.documents:
        declared_sum += max(d.page_count, 0)
        pdf = found.get(d.doc_id)
        if pdf is None:
            reasons.append(f"{d.doc_id}: PDF not available to count pages")
            continue
        if pdf.pages is None:  # pikepdf could not open it (server.checks.pdfwork)
            reasons.append(f"{d.doc_id}: {pdf.open_error}")
            continue
        if pdf.pages != d.page_count:
            reasons.append(f"{d.doc_id}: numberOfPage is {d.page_count} but the PDF has {pdf.pages} pages")
    hoso_pages = _int(c.hoso.get("numberOfPage"))
    if hoso_pages != declared_sum:
        reasons.append(
            f"hồ sơ numberOfPage is {c.hoso.get('numberOfPage')!r} but its documents sum to {declared_sum}"
        )
    sheets = _int(c.hoso.get("numberOfPaper"))
    if ctx.expected_sheets is not None and sheets != ctx.expected_sheets:
        reasons.append(
            f"numberOfPaper is {c.hoso.get('numberOfPaper')!r} but the work order expects "
            f"{ctx.expected_sheets} sheets"
        )
    return CheckResult("counts", not reasons, reasons, N_("The numbers of documents, pages or sheets do not match"))


def check_metadata(ctx: Context) -> CheckResult:
    """Required fields, code values, dates and conditional fields (protocol.metadata.check_*)."""
    c = ctx.need_contents()
    if not c.hoso:
        return CheckResult("metadata", False, ["EAD.xml missing or unreadable"], N_("The hồ sơ metadata is missing"))
    record, reasons = file_record(c)
    for p in check_file(record):
        if not p.warning and not (reasons and p.field in ("agency_id", "year", "notation")):
            reasons.append(f"hồ sơ {p.field}: {p.reason}")
    for d in c.documents:
        doc = document_record(d, maintenance=record.maintenance)
        if doc is None:
            reasons.append(f"{d.metadata_path or d.doc_id}: EAD_DOC missing or unreadable")
            continue
        for p in check_document(doc, c.file_code):
            if not p.warning:
                reasons.append(f"{d.doc_id} {p.field}: {p.reason}")
        if doc.risk_recovery and doc.risk_recovery_status not in ("01", "02"):
            reasons.append(f"{d.doc_id} risk_recovery_status: required when risk_recovery is set")
    return CheckResult("metadata", not reasons, reasons, N_("The metadata lacks a required field or has a wrong code"))


def check_premis(ctx: Context) -> CheckResult:
    """AIP: PREMIS present at both levels, its fixity equals METS, a `transfer` (digitisation) event."""
    c = ctx.need_contents()
    if c.kind != "AIP":
        return CheckResult("premis", True, [], "")
    reasons: list[str] = []
    sources = {o.get("source") for o in c.premis_objects}
    if not any(
        s and s.endswith("metadata/preservation/PREMIS.xml") and not s.startswith("repr") for s in sources
    ):
        reasons.append("metadata/preservation/PREMIS.xml missing or unreadable")
    if not any(s and s.endswith("PREMIS_rep1.xml") for s in sources):
        reasons.append("representations/rep1/metadata/preservation/PREMIS_rep1.xml missing or unreadable")
    mets_sums = {e.path.split("/", 2)[-1]: e.sha256 for e in c.files if e.use == "Data"}
    premis_sums = {}
    for o in c.premis_objects:
        for kind, value in o["identifiers"]:
            if kind == "local" and value.startswith("data/"):
                premis_sums[value] = o["sha256"]
    for path, digest in mets_sums.items():
        if path not in premis_sums:
            reasons.append(f"{path}: no PREMIS file object")
        elif premis_sums[path] != digest:
            reasons.append(f"{path}: PREMIS digest {premis_sums[path]} differs from METS {digest}")
    if not any(e["type"] == "transfer" for e in c.events):
        reasons.append("no 'transfer' (digitisation) event in PREMIS")
    for e in c.events:
        if e["outcome"] == "failure":
            reasons.append(f"PREMIS event {e['type']!r} at {e['at']} failed: {e['detail']}")
    return CheckResult("premis", not reasons, reasons,
                       N_("The preservation record (PREMIS) is missing or does not match"))
