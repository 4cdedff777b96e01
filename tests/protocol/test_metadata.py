"""JSON Schemas of the metadata records: valid records pass, a broken record reports every problem at
once (field, English and Vietnamese reason), and the schemas agree with protocol.metadata."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from protocol import metadata as m
from protocol.schemas import RECORDS, check_record, record_schema


def hoso(**over) -> dict:
    record = m.FileRecord(
        agency_id="000.00.00.H47", year=2001, notation="160.VP",
        title="Hồ sơ cấp giấy chứng nhận quyền sử dụng đất năm 2001", maintenance="01", mode="01",
        language="01", start_date="04/03/2001", end_date="28/12/2001", number_of_paper=12,
        paper_file_code="TTLT.K1-G05-H012.160", fonds_code="P_UBND_DN", agency_name="UBND tỉnh Đồng Nai",
    ).to_dict()
    record.update(over)
    return record


def document(**over) -> dict:
    record = m.DocumentRecord(ordinal=1, type_name="02", issued_date="04/03/2001",
                              organ_name="UBND tỉnh Đồng Nai", subject="Quyết định cấp đất").to_dict()
    record.update(over)
    return record


@pytest.mark.parametrize("kind", RECORDS)
def test_schemas_are_valid_draft_2020_12(kind):
    Draft202012Validator.check_schema(record_schema(kind))


def test_valid_records_pass():
    assert check_record("hoso", hoso()) == []
    assert check_record("document", document()) == []
    assert check_record("fonds", {"code": "P_UBND_DN", "name": "Phông UBND tỉnh Đồng Nai"}) == []
    assert check_record("document", document(process="1", risk_recovery=True, risk_recovery_status="01")) == []


def test_every_problem_reported_at_once_in_both_languages():
    bad = hoso(agency_id="G09", year=99, notation="160/VP", title="", maintenance="99", mode="",
               language="01,77", start_date="2001-03-04", confidence_level="02", paper_file_code="",
               number_of_paper=0, risk_recovery=True, risk_recovery_status="", keyword="x" * 101,
               colour="red")
    problems = check_record("hoso", bad)
    fields = {p.field for p in problems}
    assert fields >= {"agency_id", "year", "notation", "title", "maintenance", "mode", "language",
                      "start_date", "paper_file_code", "number_of_paper", "risk_recovery_status", "keyword",
                      "colour"}, fields
    for p in problems:
        assert p.reason and p.text("vi") and p.reason != p.text("vi"), p
    by_field = {p.field: p for p in problems}
    assert "Thời hạn lưu trữ" in by_field["maintenance"].text("vi")
    assert "'99'" in by_field["maintenance"].reason and "01" in by_field["maintenance"].reason
    assert "bắt buộc" in by_field["title"].text("vi")
    assert "dài quá 100 ký tự" in by_field["keyword"].text("vi")


def test_missing_required_fields_each_named():
    problems = check_record("document", {"ordinal": 0})
    assert {p.field for p in problems} == {"ordinal", "type_name", "issued_date", "organ_name", "subject"}
    assert all(p.text("vi") for p in problems)


def test_paper_file_code_required_only_for_digitised_records():
    assert {p.field for p in check_record("hoso", hoso(paper_file_code=""))} == {"paper_file_code"}
    assert check_record("hoso", hoso(paper_file_code="", confidence_level="01", number_of_paper=0)) == []


def test_code_tables_in_schemas_equal_protocol_metadata():
    h, d = record_schema("hoso")["properties"], record_schema("document")["properties"]
    assert h["maintenance"]["enum"] == list(m.MAINTENANCE) and h["mode"]["enum"] == list(m.MODE)
    assert h["confidence_level"]["enum"] == list(m.CONFIDENCE)
    assert d["type_name"]["enum"] == list(m.TYPE_NAME) and d["type_name"]["x-labels"] == m.TYPE_NAME
    assert h["format"]["anyOf"][0]["enum"] == list(m.FORMAT)
    assert set(h) == set(hoso())  # every dataclass field, no more
    assert set(d) == set(document())


@pytest.mark.parametrize("over", [
    {}, {"title": ""}, {"maintenance": "42"}, {"notation": "a b"}, {"agency_id": "1.2.3"},
    {"paper_file_code": ""}, {"language": "01,99"}, {"risk_recovery": True},
])
def test_schema_and_dataclass_checks_agree_on_fields(over):
    """What the schema flags, protocol.metadata.check_file flags too (same field names)."""
    data = hoso(**over)
    schema_fields = {p.field for p in check_record("hoso", data)}
    code_fields = {p.field for p in m.check_file(m.FileRecord(**data)) if not p.warning}
    assert schema_fields == code_fields, (over, schema_fields, code_fields)
