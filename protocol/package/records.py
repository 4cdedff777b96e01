"""A read package's EAD back into records: the hồ sơ's 18 fields (EAD.xml) and each document's 21 fields
(EAD_DOC_*.xml) as protocol.metadata's FileRecord and DocumentRecord.

The inverse of protocol.package.ead, in one place: the server's metadata check judges a received package
through it, and a station rebuilds a returned hồ sơ from its stored package through it. SIP and AIP packages
both read (fileCode or arcFileCode, docId or docOrdinal: protocol.package.reader already resolved them).
"""

from __future__ import annotations

from protocol.metadata import DocumentRecord, FileRecord, split_file_code
from protocol.package.model import DocumentEntry, PackageContents


def _int(text: str | None) -> int | None:
    try:
        return int(text or "")
    except ValueError:
        return None


def file_record(contents: PackageContents) -> tuple[FileRecord, list[str]]:
    """The hồ sơ record of a package, and what kept it from being read faithfully (a file code that does not
    follow the rule: its parts are then left empty for protocol.metadata.check_file to report)."""
    h, reasons = contents.hoso, []
    parts = split_file_code(contents.file_code or "")
    if parts is None:
        reasons.append(
            f"fileCode {contents.file_code!r} is not <agency id>.<year>.<number and symbol> (protocol.metadata)"
        )
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
        fonds_code=contents.fonds_code,
        agency_name=contents.agency_name,
    )
    return record, reasons


def document_record(entry: DocumentEntry, *, maintenance: str = "") -> DocumentRecord | None:
    """A document's record from its EAD_DOC fields (None when they could not be read). An AIP's document
    EAD carries no maintenance of its own: the hồ sơ's `maintenance` stands in."""
    f = entry.fields
    if not f:
        return None
    return DocumentRecord(
        ordinal=max(entry.ordinal, 0),
        type_name=f.get("typeName", ""),
        issued_date=f.get("issuedDate", ""),
        organ_name=f.get("organName", ""),
        subject=f.get("subject", ""),
        language=f.get("language", ""),
        maintenance=f.get("maintenance", maintenance),
        mode=f.get("mode", ""),
        code_number=f.get("codeNumber", ""),
        code_notation=f.get("codeNotation", ""),
        number_of_page=max(entry.page_count, 0),
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
