"""Read an archive's inventory of paper files (mục lục hồ sơ) from CSV or XLSX and validate every row.

Pure reading and checking: nothing is written here. Each bad row is reported with its spreadsheet row
number, column, value and a reason in English and Vietnamese, so the archive can fix its spreadsheet and
import again. Column headers are matched without case, spaces or diacritics, in Vietnamese or English
(docs/dashboard.md lists them).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from protocol.errors import Message, UserError, say
from protocol.i18n import DEFAULT, N_
from protocol.metadata import MAINTENANCE, FileRecord, check_file, file_code

# canonical column -> accepted headers (compared folded: no diacritics, lower case, single spaces)
COLUMNS: dict[str, tuple[str, ...]] = {
    "fonds_code": ("fonds_code", "fonds", "mã phông", "phông"),
    "agency_id": ("agency_id", "mã cơ quan", "mã định danh cơ quan"),
    "year": ("year", "năm", "năm hình thành"),
    "notation": ("notation", "số và ký hiệu hồ sơ", "số ký hiệu hồ sơ", "ký hiệu hồ sơ", "số hồ sơ"),
    "title": ("title", "tiêu đề hồ sơ", "tiêu đề"),
    "expected_sheets": ("expected_sheets", "sheets", "số tờ", "số lượng tờ"),
    "start_date": ("start_date", "ngày bắt đầu", "thời gian bắt đầu"),
    "end_date": ("end_date", "ngày kết thúc", "thời gian kết thúc"),
    "maintenance": ("maintenance", "thời hạn bảo quản", "thời hạn lưu trữ"),
    "paper_file_code": ("paper_file_code", "mã hồ sơ giấy", "mã hồ sơ gốc giấy"),
    "mode": ("mode", "chế độ sử dụng"),
    "language": ("language", "ngôn ngữ"),
    "format": ("format", "tình trạng vật lý"),
    "permanent": ("permanent", "bảo quản vĩnh viễn", "vĩnh viễn"),
    "high_use": ("high_use", "sử dụng nhiều", "khai thác nhiều"),
    "damaged": ("damaged", "hư hỏng", "tài liệu hư hỏng"),
    "station": ("station", "trạm", "trạm số hóa"),
    "fonds_name": ("fonds_name", "tên phông"),
}
REQUIRED = ("fonds_code", "agency_id", "year", "notation", "title", "expected_sheets", "start_date", "end_date",
            "maintenance")
FLAGS = ("damaged", "permanent", "high_use")
LABELS_VI = {
    "fonds_code": "Mã phông", "agency_id": "Mã cơ quan", "year": "Năm", "notation": "Số và ký hiệu hồ sơ",
    "title": "Tiêu đề hồ sơ", "expected_sheets": "Số tờ", "start_date": "Ngày bắt đầu",
    "end_date": "Ngày kết thúc", "maintenance": "Thời hạn bảo quản", "paper_file_code": "Mã hồ sơ giấy",
    "mode": "Chế độ sử dụng", "language": "Ngôn ngữ", "format": "Tình trạng vật lý",
    "permanent": "Bảo quản vĩnh viễn", "high_use": "Sử dụng nhiều", "damaged": "Hư hỏng", "station": "Trạm",
    "fonds_name": "Tên phông", "file": "Tệp", "file_code": "Mã hồ sơ",
}
TRUE_WORDS = {"x", "1", "có", "co", "yes", "y", "true", "✓", "v"}
FALSE_WORDS = {"", "0", "không", "khong", "no", "n", "false", "-"}
FONDS_RE = re.compile(r"[A-Za-z0-9_.-]{1,40}")
MAX_ROWS = 50_000


class InventoryError(UserError, ValueError):
    """The file as a whole cannot be read (not CSV/XLSX, no header, missing columns)."""


@dataclass(frozen=True)
class RowProblem:
    row: int  # row number as the spreadsheet shows it (the header is row 1)
    column: str
    value: str
    said: Message  # what is wrong, by key: shown in the reader's language

    @property
    def message(self) -> str:
        return self.said.message

    def text(self, lang: str = DEFAULT) -> str:
        return self.said.text(lang)

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "column_vi": LABELS_VI.get(self.column, self.column),
                "value": self.value, **self.said.as_dict()}


@dataclass
class InventoryRow:
    row: int
    record: FileRecord
    expected_sheets: int
    flags: tuple[str, ...]  # subset of FLAGS
    station: str | None = None
    fonds_name: str = ""

    @property
    def file_code(self) -> str:
        return self.record.file_code


@dataclass
class Inventory:
    rows: list[InventoryRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    total: int = 0  # data rows read (blank rows not counted)

    @property
    def bad_rows(self) -> list[int]:
        return sorted({p.row for p in self.problems})


def fold(text: str) -> str:
    """Lower case, no diacritics, single spaces: 'Mã  Phông' -> 'ma phong'."""
    text = unicodedata.normalize("NFD", str(text).replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.lower().replace("_", " ").split())


_HEADER_INDEX = {fold(alias): key for key, aliases in COLUMNS.items() for alias in aliases}


def read_table(path: Path | str, data: bytes | None = None) -> list[list[Any]]:
    """Rows of cells from a .csv (UTF-8, with or without BOM; comma or semicolon) or .xlsx (first sheet)."""
    path = Path(path)
    raw = data if data is not None else path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".xlsx" or raw[:2] == b"PK":
        return _read_xlsx(raw)
    if suffix in (".csv", ".txt", ""):
        return _read_csv(raw)
    raise InventoryError(N_("%(name)s: expected a .csv or .xlsx file"), name=path.name)


def _read_csv(raw: bytes) -> list[list[Any]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InventoryError(N_("the CSV file is not UTF-8 (save it as 'CSV UTF-8')")) from exc
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter)]


def _read_xlsx(raw: bytes) -> list[list[Any]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InventoryError(N_("not a readable XLSX workbook: %(exc)s"), exc=exc) from exc
    try:
        sheet = book.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.strftime("%d/%m/%Y")
    return unicodedata.normalize("NFC", str(value)).strip()


def parse_inventory(table: list[list[Any]]) -> Inventory:
    """Validate every data row; valid rows become InventoryRow, each problem a RowProblem."""
    if not any(any(_text(c) for c in row) for row in table):
        raise InventoryError(N_("the file is empty"))
    # The header is the first row naming at least 3 known columns: title lines above it are common.
    header_at = next((i for i, row in enumerate(table[:20])
                      if sum(fold(_text(c)) in _HEADER_INDEX for c in row) >= 3), None)
    if header_at is None:
        header_at = next(i for i, row in enumerate(table) if any(_text(c) for c in row))
    columns: dict[str, int] = {}
    for index, cell in enumerate(table[header_at]):
        key = _HEADER_INDEX.get(fold(_text(cell)))
        if key and key not in columns:
            columns[key] = index
    missing = [k for k in REQUIRED if k not in columns]
    if missing:
        raise InventoryError(N_("Missing columns: %(columns)s (see docs/dashboard.md)"),
                             columns=", ".join(LABELS_VI[k] for k in missing))
    if len(table) - header_at - 1 > MAX_ROWS:
        raise InventoryError(N_("more than %(max_rows)s rows: split the inventory"), max_rows=MAX_ROWS)
    inventory = Inventory()
    seen: dict[str, int] = {}
    for offset, cells in enumerate(table[header_at + 1:]):
        rownum = header_at + offset + 2
        values = {k: _text(cells[i]) if i < len(cells) else "" for k, i in columns.items()}
        if not any(values.values()):
            continue
        inventory.total += 1
        row, problems = _check_row(rownum, values)
        if row is not None and row.file_code in seen:
            problems.append(RowProblem(rownum, "file_code", row.file_code,
                                       say(N_("The hồ sơ code duplicates row %(row)s"), row=seen[row.file_code])))
        inventory.problems.extend(problems)
        if row is not None and not problems:
            seen[row.file_code] = rownum
            inventory.rows.append(row)
    return inventory


def read_inventory(path: Path | str, data: bytes | None = None) -> Inventory:
    """Read and validate an inventory file (CSV or XLSX); `data` lets an upload skip the disk."""
    return parse_inventory(read_table(path, data))


def _flag(rownum: int, key: str, value: str, problems: list[RowProblem]) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    problems.append(RowProblem(rownum, key, value, say(N_("Expected «x», «có», «1» or empty"))))
    return False


def _maintenance(value: str) -> str:
    """A code ('01') or its label ('Vĩnh viễn', '70 năm'); unknown text is returned for check_file."""
    if value.isdigit() and len(value) <= 2:
        return value.zfill(2)
    by_label = {fold(label): code for code, label in MAINTENANCE.items()}
    return by_label.get(fold(value), value)


def _check_row(rownum: int, v: dict[str, str]) -> tuple[InventoryRow | None, list[RowProblem]]:
    problems: list[RowProblem] = []

    def bad(column: str, message: str, **params: Any) -> None:
        problems.append(RowProblem(rownum, column, v.get(column, ""), say(message, **params)))

    if not FONDS_RE.fullmatch(v["fonds_code"]):
        bad("fonds_code", N_("fonds code: 1-40 letters, digits, . _ -"))
    try:
        year = int(v["year"])
    except ValueError:
        bad("year", N_("not a year"))
        year = 0
    try:
        sheets = int(v["expected_sheets"])
        if sheets <= 0:
            raise ValueError
    except ValueError:
        bad("expected_sheets", N_("expected sheets must be a whole number above 0"))
        sheets = 0
    flags = {key: _flag(rownum, key, v.get(key, ""), problems) for key in FLAGS}
    maintenance = _maintenance(v["maintenance"])
    if "permanent" not in v:  # no column: the retention period says it
        flags["permanent"] = maintenance == "01"
    station = v.get("station") or None
    if station and not re.fullmatch(r"[a-z0-9-]{1,32}", station):
        bad("station", N_("station id: [a-z0-9-], up to 32 characters"))
    notation = v["notation"]
    record = FileRecord(
        agency_id=v["agency_id"], year=year, notation=notation, title=v["title"], maintenance=maintenance,
        mode=v.get("mode") or "01", language=v.get("language") or "01", start_date=v["start_date"],
        end_date=v["end_date"], number_of_paper=sheets, format=v.get("format") or "02",
        paper_file_code=v.get("paper_file_code") or f"{v['fonds_code']}.{notation}",
        fonds_code=v["fonds_code"],
    )
    for p in check_file(record):
        if p.warning or (p.field == "number_of_paper" and sheets == 0):
            continue  # already reported as expected_sheets
        column = p.field if p.field in COLUMNS else ("expected_sheets" if p.field == "number_of_paper" else p.field)
        problems.append(RowProblem(rownum, column, v.get(column, ""), p.said))
    if problems:
        return None, problems
    row = InventoryRow(row=rownum, record=record, expected_sheets=sheets,
                       flags=tuple(k for k in FLAGS if flags[k]), station=station,
                       fonds_name=v.get("fonds_name", ""))
    assert row.file_code == file_code(record.agency_id, year, notation)
    return row, problems
