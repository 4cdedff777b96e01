"""The certified copy as a DIP (TT05 Điều 42): a ZIP holding the original document exactly as stored (with
its agency signature), an authentication sheet (PDF/A, signed by the archive) with the items TT05 lists,
and EAD.xml describing the request (validated against ead_request.xsd beside this module).

Not yet a full E-ARK DIP: the METS files of the stored AIP are not rebuilt for the DIP (see the README).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree

from protocol.metadata import nfc
from server.archive import copies_pdf

SCHEMA = Path(__file__).with_name("ead_request.xsd")
PURPOSE_VI = {"01": "Cá nhân", "02": "Công vụ", "03": "Công vụ đặc biệt"}
REQUEST_FIELDS = ("requestID", "requestDate", "purpose", "purposeContent", "feeObjectType", "researchTopic",
                  "description")


def request_ead(request: Any, *, copy_id: str, when: str, doc_id: str) -> bytes:
    values = {"requestID": request.request_id or copy_id, "requestDate": when[:10], "purpose": request.purpose,
              "purposeContent": request.purpose_content, "feeObjectType": "",
              "researchTopic": request.research_topic,
              "description": f"Bản sao có xác thực dạng DIP của tài liệu {doc_id} cho {request.recipient}"}
    root = etree.Element("simpledc")
    for name in REQUEST_FIELDS:
        etree.SubElement(root, name).text = nfc(str(values[name]))
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    xmlschema.XMLSchema(str(SCHEMA)).validate(io.BytesIO(data))
    return data


def auth_lines(*, archive: str, copy_id: str, request: Any, doc_id: str, fields: dict[str, Any],
               when: str) -> list[str]:
    """TT05's eleven items of the authentication sheet."""
    return [
        "XÁC THỰC BẢN SAO TÀI LIỆU LƯU TRỮ SỐ",
        "",
        f"1. Mã xác thực lưu trữ: {copy_id}",
        f"2. Tên lưu trữ lịch sử: {archive}",
        f"3. Người nhận: {request.recipient}; số định danh: {request.recipient_id or '-'}",
        f"4. Mã lưu trữ của bản gốc: {doc_id}",
        f"5. Số, ký hiệu: {fields.get('codeNumber', '') or '-'}/{fields.get('codeNotation', '') or '-'}",
        f"6. Tên loại: {fields.get('typeName', '') or '-'}",
        f"7. Trích yếu: {(fields.get('subject', '') or '-')[:110]}",
        f"8. Mục đích sử dụng: {PURPOSE_VI.get(request.purpose, request.purpose)}"
        + (f" ({request.purpose_content[:80]})" if request.purpose_content else ""),
        f"9. Ngày cấp: {when}",
        f"10. Thời hạn sử dụng: đến hết ngày {request.until.strftime('%d/%m/%Y')}",
        "11. Số lượng bản: 1",
    ]


def build(ctx: Any, *, doc: Any, stored: Any, request: Any, copy_id: str, when: str,
          sign: Callable[[bytes], bytes]) -> bytes:
    from server.archive.browse import catalogued
    from server.archive.copies import archive_name

    row = catalogued(ctx, doc.objid) or {}
    fields = next((d.get("fields", {}) for d in row.get("documents", []) if d.get("doc_id") == doc.doc_id), {})
    if not fields:
        fields = next((d for d in row.get("documents", []) if d.get("doc_id") == doc.doc_id), {})
    sheet = copies_pdf.text_pdfa("Xác thực bản sao", auth_lines(archive=archive_name(ctx), copy_id=copy_id,
                                                                request=request, doc_id=doc.doc_id, fields=fields,
                                                                when=when), author=archive_name(ctx))
    folder = f"DIP_{copy_id}"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{folder}/metadata/descriptive/EAD.xml", request_ead(request, copy_id=copy_id, when=when,
                                                                          doc_id=doc.doc_id))
        zf.writestr(f"{folder}/documentation/XAC_THUC_{copy_id}.pdf", sign(sheet))
        zf.write(doc.pdf, f"{folder}/representations/rep1/data/{doc.doc_id}.pdf")
        zf.writestr(f"{folder}/schemas/ead_request.xsd", SCHEMA.read_bytes())
    return out.getvalue()
