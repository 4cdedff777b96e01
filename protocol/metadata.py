"""Hồ sơ (file) and tài liệu (document) records of Circular 05/2025/TT-BNV (a fonds travels as its code).

Codes are composed from their parts (see docs/architecture.md); the server splits a received file code with
the same rule (`split_file_code`). Every text value is NFC-normalised on the way in. `check_*` return every
problem at once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import TYPE_CHECKING, Any

from protocol.errors import Joined, Message, UserError, say
from protocol.i18n import DEFAULT, N_

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

MAINTENANCE = {"01": "Vĩnh viễn", "02": "70 năm", "03": "50 năm", "04": "30 năm", "05": "20 năm",
               "06": "10 năm", "07": "Khác"}
MODE = {"01": "Công khai", "02": "Sử dụng có điều kiện", "03": "Mật"}
CONFIDENCE = {"01": "Gốc điện tử", "02": "Số hóa", "03": "Hỗn hợp"}
FORMAT = {"01": "Tốt", "02": "Bình thường", "03": "Hỏng"}
RISK_STATUS = {"01": "đã dự phòng", "02": "chưa dự phòng"}
LANGUAGE = {"01": "Tiếng Việt", "02": "Tiếng Anh", "03": "Tiếng Pháp", "04": "Tiếng Nga", "05": "Tiếng Trung",
            "06": "Việt – Anh", "07": "Việt – Nga", "08": "Việt – Pháp", "09": "Hán Nôm", "10": "Việt – Trung",
            "11": "Khác"}
TYPE_NAME = {
    "01": "Nghị quyết", "02": "Quyết định", "03": "Chỉ thị", "04": "Quy chế", "05": "Quy định",
    "06": "Thông cáo", "07": "Thông báo", "08": "Hướng dẫn", "09": "Chương trình", "10": "Kế hoạch",
    "11": "Phương án", "12": "Đề án", "13": "Dự án", "14": "Báo cáo", "15": "Tờ trình",
    "16": "Giấy ủy quyền", "17": "Phiếu gửi", "18": "Phiếu chuyển", "19": "Phiếu báo", "20": "Biên bản",
    "21": "Hợp đồng", "22": "Công văn", "23": "Công điện", "24": "Bản ghi nhớ", "25": "Bản thỏa thuận",
    "26": "Giấy mời", "27": "Giấy giới thiệu", "28": "Giấy nghỉ phép", "29": "Thư công", "30": "Bản đồ",
    "31": "Bản vẽ kỹ thuật", "32": "Khác",
}
#: Document types that need 300 dpi instead of 200 (maps, technical drawings).
HIGH_DPI_TYPES = {"30", "31"}

# The file-code rule, in one place: mã hồ sơ = agency id . year (4 digits) . số và ký hiệu hồ sơ. The server's
# checks split and judge received codes with these same patterns.
_AGENCY_ID = r"\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}"
_NOTATION = r"[^\s/\\]{1,20}"  # 1 to 20 characters, no spaces or slashes
AGENCY_ID_RE = re.compile(rf"^{_AGENCY_ID}$")
NOTATION_RE = re.compile(rf"^{_NOTATION}$")
FILE_CODE_RE = re.compile(rf"^(?P<agency_id>{_AGENCY_ID})\.(?P<year>\d{{4}})\.(?P<notation>{_NOTATION})$")
EAD_DATE_RE = re.compile(r"^\d{2}/\d{2}/\d{4}$")
DOC_ID_MAX = 25


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a record: which field, and why (a message by key: `reason` in English, `text(lang)`)."""

    field: str
    said: Message
    warning: bool = False

    @property
    def reason(self) -> str:
        return self.said.message

    def text(self, lang: str = DEFAULT) -> str:
        return self.said.text(lang)

    def as_dict(self, lang: str = DEFAULT) -> dict[str, Any]:
        return {"field": self.field, "message": self.reason, "text": self.text(lang)}


class MetadataError(UserError, ValueError):
    """Raised with every problem found, not only the first."""

    status = 422
    key = "invalid_metadata"

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(N_("The information is not valid: %(problems)s"),
                         problems=Joined([p.said for p in problems]))

    def details(self, lang: str = DEFAULT) -> dict[str, Any]:
        return {"problems": [p.as_dict(lang) for p in self.problems]}


def file_code(agency_id: str, year: int, notation: str) -> str:
    """Mã hồ sơ: agency id . year . số và ký hiệu hồ sơ."""
    return f"{agency_id}.{year:04d}.{nfc(notation)}"


def split_file_code(code: str) -> tuple[str, int, str] | None:
    """(agency id, year, notation) of a file code that follows the rule, else None."""
    m = FILE_CODE_RE.match(nfc(code or ""))
    return (m["agency_id"], int(m["year"]), m["notation"]) if m else None


def doc_id(file_code_: str, ordinal: int) -> str:
    """Mã định danh tài liệu: fileCode . ordinal (unpadded)."""
    return f"{file_code_}.{ordinal}"


def doc_code(file_code_: str, ordinal: int) -> str:
    """Mã lưu trữ tài liệu: fileCode . ordinal padded to 7 digits."""
    return f"{file_code_}.{ordinal:07d}"


def parse_ead_date(text: str) -> date:
    if not EAD_DATE_RE.match(text):
        raise ValueError(f"not a DD/MM/YYYY date: {text!r}")
    d, m, y = (int(part) for part in text.split("/"))
    return date(y, m, d)


@dataclass
class FileRecord:
    """Hồ sơ: the 18 fields of EAD.xml plus the parts its codes are built from."""

    agency_id: str
    year: int
    notation: str
    title: str
    maintenance: str
    mode: str
    language: str
    start_date: str  # DD/MM/YYYY
    end_date: str  # DD/MM/YYYY
    total_doc: int = 0
    number_of_paper: int = 0
    number_of_page: int = 0
    format: str = "02"
    keyword: str = ""
    infor_sign: str = ""
    confidence_level: str = "02"
    paper_file_code: str = ""
    risk_recovery: bool = False
    risk_recovery_status: str = ""
    description: str = ""
    fonds_code: str = ""
    agency_name: str = ""

    def __post_init__(self) -> None:
        _normalise(self)

    @property
    def file_code(self) -> str:
        return file_code(self.agency_id, self.year, self.notation)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DocumentRecord:
    """Tài liệu: the 21 SIP fields of EAD_DOC_{docId}.xml (a superset for AIP)."""

    ordinal: int
    type_name: str
    issued_date: str  # DD/MM/YYYY
    organ_name: str
    subject: str
    language: str = "01"
    maintenance: str = "01"
    mode: str = "01"
    code_number: str = ""
    code_notation: str = ""
    number_of_page: int = 0
    infor_sign: str = ""
    keyword: str = ""
    confidence_level: str = "02"
    autograph: str = ""
    format: str = "02"
    risk_recovery: bool = False
    risk_recovery_status: str = ""
    process: str = ""
    description: str = ""
    page_ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        _normalise(self)

    def doc_id(self, file_code_: str) -> str:
        return doc_id(file_code_, self.ordinal)

    def doc_code(self, file_code_: str) -> str:
        return doc_code(file_code_, self.ordinal)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _normalise(record: DataclassInstance) -> None:
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, str):
            setattr(record, f.name, nfc(value.strip()))


def _code(problems: list[Problem], name: str, value: str, table: dict[str, str], *, label: str) -> None:
    if value not in table:
        problems.append(Problem(name, say(N_("%(label)s: unknown code '%(value)s'; expected one of %(codes)s"),
                                          label=say(label), value=value, codes=", ".join(table))))


def _date(problems: list[Problem], name: str, value: str, *, label: str) -> date | None:
    try:
        return parse_ead_date(value)
    except ValueError:
        problems.append(Problem(name, say(N_("%(label)s: '%(value)s' is not a valid DD/MM/YYYY date"),
                                          label=say(label), value=value)))
        return None


def _required(problems: list[Problem], name: str, value: str, limit: int, *, label: str) -> None:
    if not value:
        problems.append(Problem(name, say(N_("%(label)s: required"), label=say(label))))
    elif len(value) > limit:
        problems.append(Problem(name, say(N_("%(label)s: longer than %(limit)s characters"),
                                          label=say(label), limit=limit)))


def check_file(record: FileRecord) -> list[Problem]:
    """Every problem in a hồ sơ record (empty list when it is valid)."""
    p: list[Problem] = []
    if not AGENCY_ID_RE.match(record.agency_id):
        p.append(Problem("agency_id", say(N_("'%(agency_id)s' is not an agency id like 000.00.00.G09"),
                                          agency_id=record.agency_id)))
    if not 1000 <= record.year <= 9999:
        p.append(Problem("year", say(N_("year must have 4 digits"))))
    if not NOTATION_RE.match(record.notation):
        p.append(Problem("notation", say(N_("1 to 20 characters without spaces or slashes"))))
    _required(p, "title", record.title, 1000, label=N_("Title of the hồ sơ"))
    _code(p, "maintenance", record.maintenance, MAINTENANCE, label=N_("Storage period"))
    _code(p, "mode", record.mode, MODE, label=N_("Access mode"))
    for code in record.language.split(","):
        _code(p, "language", code.strip(), LANGUAGE, label=N_("Language"))
    start = _date(p, "start_date", record.start_date, label=N_("Start date"))
    end = _date(p, "end_date", record.end_date, label=N_("End date"))
    if start and end and start > end:
        p.append(Problem("end_date", say(N_("ends before it starts"))))
    _code(p, "confidence_level", record.confidence_level, CONFIDENCE, label=N_("Confidence level"))
    if record.format:
        _code(p, "format", record.format, FORMAT, label=N_("Physical condition"))
    if record.confidence_level == "02":
        if not record.paper_file_code:
            p.append(Problem("paper_file_code", say(N_("required for a digitised hồ sơ"))))
        if record.number_of_paper <= 0:
            p.append(Problem("number_of_paper", say(N_("required for a digitised hồ sơ"))))
    if record.risk_recovery and record.risk_recovery_status not in RISK_STATUS:
        p.append(Problem("risk_recovery_status", say(N_("required when risk_recovery is set"))))
    if len(record.description) > 2000:
        p.append(Problem("description", say(N_("longer than 2000 characters"))))
    return p


def check_document(record: DocumentRecord, file_code_: str) -> list[Problem]:
    """Every problem in a tài liệu record."""
    p: list[Problem] = []
    if not 1 <= record.ordinal <= 999:
        p.append(Problem("ordinal", say(N_("ordinal must be 1..999"))))
    _code(p, "type_name", record.type_name, TYPE_NAME, label=N_("Type of document"))
    _date(p, "issued_date", record.issued_date, label=N_("Date of the document"))
    _required(p, "organ_name", record.organ_name, 200, label=N_("Issuing organ"))
    _required(p, "subject", record.subject, 500, label=N_("Summary of the content"))
    _code(p, "maintenance", record.maintenance, MAINTENANCE, label=N_("Storage period"))
    _code(p, "mode", record.mode, MODE, label=N_("Access mode"))
    for code in record.language.split(","):
        _code(p, "language", code.strip(), LANGUAGE, label=N_("Language"))
    if len(record.code_number) > 11:
        p.append(Problem("code_number", say(N_("longer than 11 characters"))))
    if len(record.code_notation) > 30:
        p.append(Problem("code_notation", say(N_("longer than 30 characters"))))
    if len(record.doc_id(file_code_)) > DOC_ID_MAX:
        p.append(Problem("doc_id", say(N_("docId longer than %(doc_id_max)s characters (kept, not truncated)"),
                                       doc_id_max=DOC_ID_MAX), warning=True))
    return p
