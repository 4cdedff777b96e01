"""Counts, metadata fields and codes, and the preservation record (PREMIS)."""

from __future__ import annotations

from protocol.metadata import DocumentRecord, FileRecord, check_document, check_file, split_file_code
from protocol.package.model import PackageContents
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
    return CheckResult("counts", not reasons, reasons, "Số tài liệu, số trang hoặc số tờ không khớp")


def _file_record(c: PackageContents) -> tuple[FileRecord, list[str]]:
    h, reasons = c.hoso, []
    parts = split_file_code(c.file_code or "")
    if parts is None:
        reasons.append(f"fileCode {c.file_code!r} is not <agency id>.<year>.<number and symbol> (protocol.metadata)")
    agency_id, year, notation = parts or ("", 0, "")
    record = FileRecord(
        agency_id=agency_id,
        year=year,
        notation=notation,
        title=h.get("title", ""),
        maintenance=h.get("maintenance", ""),
        mode=h.get("mode", ""),
        language=h.get("language", ""),
        start_date=h.get("startDate", ""),
        end_date=h.get("endDate", ""),
        total_doc=_int(h.get("totalDoc")) or 0,
        number_of_paper=_int(h.get("numberOfPaper")) or 0,
        number_of_page=_int(h.get("numberOfPage")) or 0,
        format=h.get("format", ""),
        keyword=h.get("keyword", ""),
        infor_sign=h.get("inforSign", ""),
        confidence_level=h.get("confidenceLevel", "") or "02",
        paper_file_code=h.get("paperFileCode", ""),
        risk_recovery=h.get("riskRecovery") == "1",
        risk_recovery_status=h.get("riskRecoveryStatus", ""),
        description=h.get("description", ""),
    )
    return record, reasons


def check_metadata(ctx: Context) -> CheckResult:
    """Required fields, code values, dates and conditional fields (protocol.metadata.check_*)."""
    c = ctx.need_contents()
    if not c.hoso:
        return CheckResult("metadata", False, ["EAD.xml missing or unreadable"], "Thiếu siêu dữ liệu hồ sơ")
    record, reasons = _file_record(c)
    for p in check_file(record):
        if not p.warning and not (reasons and p.field in ("agency_id", "year", "notation")):
            reasons.append(f"hồ sơ {p.field}: {p.reason}")
    for d in c.documents:
        f = d.fields
        if not f:
            reasons.append(f"{d.metadata_path or d.doc_id}: EAD_DOC missing or unreadable")
            continue
        doc = DocumentRecord(
            ordinal=max(d.ordinal, 0),
            type_name=f.get("typeName", ""),
            issued_date=f.get("issuedDate", ""),
            organ_name=f.get("organName", ""),
            subject=f.get("subject", ""),
            language=f.get("language", ""),
            maintenance=f.get("maintenance", record.maintenance),
            mode=f.get("mode", ""),
            code_number=f.get("codeNumber", ""),
            code_notation=f.get("codeNotation", ""),
            number_of_page=max(d.page_count, 0),
            infor_sign=f.get("inforSign", ""),
            keyword=f.get("keyword", ""),
            confidence_level=f.get("confidenceLevel", "") or "02",
            autograph=f.get("autograph", ""),
            format=f.get("format", ""),
            risk_recovery=f.get("riskRecovery") == "1",
            risk_recovery_status=f.get("riskRecoveryStatus", ""),
            process=f.get("process", ""),
            description=f.get("description", ""),
        )
        for p in check_document(doc, c.file_code):
            if not p.warning:
                reasons.append(f"{d.doc_id} {p.field}: {p.reason}")
        if doc.risk_recovery and doc.risk_recovery_status not in ("01", "02"):
            reasons.append(f"{d.doc_id} risk_recovery_status: required when risk_recovery is set")
    return CheckResult("metadata", not reasons, reasons, "Siêu dữ liệu thiếu trường bắt buộc hoặc sai mã")


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
    return CheckResult("premis", not reasons, reasons, "Hồ sơ bảo quản (PREMIS) thiếu hoặc không khớp")
