"""EAD `<simpledc>` records: the hồ sơ (EAD.xml) and document (EAD_DOC_{docId}.xml) field sets.

One internal record (protocol.metadata) is serialised per package type: SIP uses fileCode and the 21
document fields; AIP uses arcFileCode and the 19 AIP document fields (docOrdinal, no docId). The field
tables below also generated protocol/schemas/tt05/ead*.xsd, so the XML and its schema cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from protocol.metadata import DocumentRecord, FileRecord, nfc


@dataclass(frozen=True)
class Field:
    element: str  # XML element name
    attr: str  # attribute of FileRecord / DocumentRecord ("" for codes composed elsewhere)
    kind: str  # str | code | codes | date | int | bool
    max: int = 0  # maximum length (characters or digits)
    required: bool = False
    table: str = ""  # name of the code table in protocol.metadata


_FILE_COMMON = [
    Field("title", "title", "str", 1000, True),
    Field("maintenance", "maintenance", "code", 100, True, "MAINTENANCE"),
    Field("mode", "mode", "code", 30, True, "MODE"),
    Field("language", "language", "codes", 100, True, "LANGUAGE"),
    Field("startDate", "start_date", "date", 10, True),
    Field("endDate", "end_date", "date", 10, True),
    Field("keyword", "keyword", "str", 100),
    Field("totalDoc", "total_doc", "int", 10, True),
    Field("numberOfPaper", "number_of_paper", "int", 10),
    Field("numberOfPage", "number_of_page", "int", 10, True),
    Field("format", "format", "code", 50, False, "FORMAT"),
    Field("inforSign", "infor_sign", "str", 30),
    Field("confidenceLevel", "confidence_level", "code", 40, False, "CONFIDENCE"),
    Field("paperFileCode", "paper_file_code", "str", 100),
    Field("riskRecovery", "risk_recovery", "bool", 1, True),
    Field("riskRecoveryStatus", "risk_recovery_status", "code", 2, False, "RISK_STATUS"),
    Field("description", "description", "str", 2000),
]
FILE_FIELDS = {
    "SIP": [Field("fileCode", "", "str", 100, True), *_FILE_COMMON],
    "AIP": [Field("arcFileCode", "", "str", 100, True), *_FILE_COMMON],
}

DOC_FIELDS = {
    "SIP": [
        Field("docId", "", "str", 100, True),  # rules say 25, but a 13-char agency id overflows: warn only
        Field("docCode", "", "str", 100, True),
        Field("maintenance", "maintenance", "code", 100, True, "MAINTENANCE"),
        Field("typeName", "type_name", "code", 10, True, "TYPE_NAME"),
        Field("codeNumber", "code_number", "str", 11),
        Field("codeNotation", "code_notation", "str", 30),
        Field("issuedDate", "issued_date", "date", 10, True),
        Field("organName", "organ_name", "str", 200, True),
        Field("subject", "subject", "str", 500, True),
        Field("language", "language", "codes", 100, True, "LANGUAGE"),
        Field("numberOfPage", "number_of_page", "int", 4, True),
        Field("inforSign", "infor_sign", "str", 30),
        Field("keyword", "keyword", "str", 100),
        Field("mode", "mode", "code", 20, True, "MODE"),
        Field("confidenceLevel", "confidence_level", "code", 30, False, "CONFIDENCE"),
        Field("autograph", "autograph", "str", 2000),
        Field("format", "format", "code", 50, False, "FORMAT"),
        Field("riskRecovery", "risk_recovery", "bool", 1, True),
        Field("riskRecoveryStatus", "risk_recovery_status", "code", 2, False, "RISK_STATUS"),
        Field("process", "process", "bool", 1),
        Field("description", "description", "str", 500),
    ],
    "AIP": [
        Field("arcFileCode", "", "str", 100, True),
        Field("mode", "mode", "code", 20, True, "MODE"),
        Field("language", "language", "codes", 100, True, "LANGUAGE"),
        Field("keyword", "keyword", "str", 100),
        Field("numberOfPage", "number_of_page", "int", 4, True),
        Field("format", "format", "code", 50, False, "FORMAT"),
        Field("inforSign", "infor_sign", "str", 30),
        Field("confidenceLevel", "confidence_level", "code", 30, False, "CONFIDENCE"),
        Field("description", "description", "str", 500),
        Field("docCode", "", "str", 100, True),
        Field("docOrdinal", "ordinal", "int", 3, True),
        Field("typeName", "type_name", "code", 10, True, "TYPE_NAME"),
        Field("codeNumber", "code_number", "str", 11),
        Field("codeNotation", "code_notation", "str", 30),
        Field("issuedDate", "issued_date", "date", 10, True),
        Field("organName", "organ_name", "str", 200, True),
        Field("subject", "subject", "str", 500, True),
        Field("autograph", "autograph", "str", 2000),
        Field("process", "process", "bool", 1),
    ],
}


def _text(field: Field, value: Any) -> str:  # a JSON value
    if field.kind == "bool":
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value or "")
    if field.kind == "int":
        return str(int(value or 0))
    return nfc(str(value or ""))


def _simpledc(fields: list[Field], values: dict[str, object]) -> bytes:
    root = etree.Element("simpledc")
    for field in fields:
        etree.SubElement(root, field.element).text = _text(field, values.get(field.element))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def file_ead(hoso: FileRecord, *, kind: str, arc_file_code: str = "") -> bytes:
    """EAD.xml of the hồ sơ (codes composed by the caller's record, never typed by hand)."""
    values: dict[str, object] = {f.element: getattr(hoso, f.attr) for f in _FILE_COMMON}
    values["fileCode"] = hoso.file_code
    values["arcFileCode"] = arc_file_code or hoso.file_code
    return _simpledc(FILE_FIELDS[kind], values)


def document_ead(doc: DocumentRecord, *, kind: str, file_code: str, arc_file_code: str = "") -> bytes:
    values: dict[str, object] = {f.element: getattr(doc, f.attr) for f in DOC_FIELDS[kind] if f.attr}
    values.update(
        docId=doc.doc_id(file_code), docCode=doc.doc_code(file_code), arcFileCode=arc_file_code or file_code
    )
    return _simpledc(DOC_FIELDS[kind], values)


def parse_simpledc(data: bytes) -> dict[str, str]:
    """Element name -> text of a flat <simpledc> (order free, as the rules allow)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.fromstring(data, parser)
    if etree.QName(root).localname != "simpledc":
        raise ValueError(f"root element is {root.tag!r}, expected simpledc")
    return {
        etree.QName(child).localname: nfc(child.text or "") for child in root if isinstance(child.tag, str)
    }
