"""The certified copy as a DIP (TT05 Điều 42): a ZIP holding the original document exactly as stored (with
its agency signature), an authentication sheet (PDF/A, signed by the archive) with the items TT05 lists,
and EAD.xml describing the request (validated against ead_request.xsd beside this module).

Laid out as an E-ARK information package (root METS with OAISPACKAGETYPE="DIP" and the E-ARK DIP profile,
rep1 METS, metadata/descriptive/EAD.xml, documentation/, schemas/), its METS made by the package builders' code.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree

from protocol.hashing import sha256_bytes
from protocol.metadata import TYPE_NAME, nfc
from protocol.package.model import folder_name
from server.archive import copies_pdf, signing

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
    type_code = str(fields.get("typeName") or fields.get("type_name") or "")
    return [
        "XÁC THỰC BẢN SAO TÀI LIỆU LƯU TRỮ SỐ",
        "",
        f"1. Mã xác thực lưu trữ: {copy_id}",
        f"2. Tên lưu trữ lịch sử: {archive}",
        f"3. Người nhận: {request.recipient}; số định danh: {request.recipient_id or '-'}",
        f"4. Mã lưu trữ của bản gốc: {doc_id}",
        f"5. Số, ký hiệu: {fields.get('codeNumber', '') or '-'}/{fields.get('codeNotation', '') or '-'}",
        f"6. Tên loại: {TYPE_NAME.get(type_code, type_code) or '-'}",
        f"7. Trích yếu: {(fields.get('subject', '') or '-')[:110]}",
        f"8. Mục đích sử dụng: {PURPOSE_VI.get(request.purpose, request.purpose)}"
        + (f" ({request.purpose_content[:80]})" if request.purpose_content else ""),
        f"9. Ngày cấp: {when}",
        f"10. Thời hạn sử dụng: đến hết ngày {request.until.strftime('%d/%m/%Y')}",
        "11. Số lượng bản: 1",
    ]


PROFILE_DIP = "https://earkdip.dilcis.eu/profile/E-ARK-DIP.xml"


def _mets_xml(ctx: Any, *, doc: Any, stored: Any, copy_id: str, files: dict[str, bytes], when_iso: str) -> tuple[
        str, bytes, bytes]:
    """The DIP's root and rep1 METS, made by the package builders' own METS code (protocol.package.mets),
    each valid against the profile's mets.xsd. Returns (OBJID, root METS, rep1 METS)."""
    from lxml import etree

    from protocol.package import mets
    from protocol.package.model import EAD, REP, REP_METS, ead_doc_path
    from protocol.package.schemas import validate
    from server.archive.stored import read_stored

    contents = read_stored(stored.path)
    header = mets.Header(kind="DIP", status="NEW", created=when_iso, software=contents.software or "sohoa",
                         fonds_code=contents.fonds_code, agency_name=signing.archive_name(ctx.config))

    def ref(member: str, href: str, mimetype: str = "application/xml") -> mets.Ref:
        data = files[member]
        return mets.Ref(href=href, size=len(data), sha256=sha256_bytes(data), created=when_iso, mimetype=mimetype)

    pdf = f"{REP}/data/{doc.doc_id}.pdf"
    rep = mets.representation_mets(header, documents=[(
        ref(ead_doc_path(doc.doc_id), ead_doc_path(doc.doc_id)[len(REP) + 1:]),
        ref(pdf, pdf[len(REP) + 1:], "application/pdf"))], premis=None)
    problems = validate("mets.xsd", rep)
    if problems:
        raise ValueError(f"DIP rep1 METS invalid: {problems[0]}")
    files[REP_METS] = rep
    objid = f"urn:uuid:{str(uuid.UUID(copy_id)).upper()}"
    root = mets.root_mets(
        objid, header, file_code=contents.file_code, ead=ref(EAD, EAD), premis=None,
        schemas=[ref(m, m) for m in sorted(files) if m.startswith("schemas/")],
        rep_mets=ref(REP_METS, REP_METS, "text/xml"),
        documentation=tuple(ref(m, m, "application/pdf") for m in sorted(files) if m.startswith("documentation/")))
    tree = etree.fromstring(root)
    tree.set("PROFILE", PROFILE_DIP)  # the builders write the AIP/SIP profiles; a DIP names E-ARK's DIP one
    root = etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    problems = validate("mets.xsd", root)
    if problems:
        raise ValueError(f"DIP METS invalid: {problems[0]}")
    return objid, root, rep


def build(ctx: Any, *, doc: Any, stored: Any, request: Any, copy_id: str, when: str,
          sign: Callable[[bytes], bytes]) -> bytes:
    """The DIP as ZIP bytes: METS.xml, the request's EAD, the signed authentication sheet, the original
    document with its own EAD_DOC as stored, and the schemas; every member listed with its SHA-256."""
    from protocol.package.model import EAD, REP, ead_doc_path
    from protocol.package.schemas import SCHEMA_DIR, SHIPPED
    from server.archive.browse import catalogued
    from server.archive.stored import read_stored

    row = catalogued(ctx, doc.objid) or {}
    entry: dict[str, Any] = next((d for d in row.get("documents", []) if d.get("doc_id") == doc.doc_id), {})
    fields = {**entry, **(entry.get("fields") or {})}
    name = signing.archive_name(ctx.config)
    sheet = copies_pdf.text_pdfa("Xác thực bản sao", auth_lines(archive=name, copy_id=copy_id, request=request,
                                                                doc_id=doc.doc_id, fields=fields, when=when),
                                 author=name)
    contents = read_stored(stored.path)
    with zipfile.ZipFile(stored.path) as src:
        ead_doc = src.read(f"{contents.folder}/{ead_doc_path(doc.doc_id)}")
    files: dict[str, bytes] = {
        EAD: request_ead(request, copy_id=copy_id, when=when, doc_id=doc.doc_id),
        f"documentation/XAC_THUC_{copy_id}.pdf": sign(sheet),
        f"{REP}/data/{doc.doc_id}.pdf": doc.pdf.read_bytes(),
        ead_doc_path(doc.doc_id): ead_doc,
        "schemas/ead_request.xsd": SCHEMA.read_bytes(),
        **{f"schemas/{name}": (SCHEMA_DIR / name).read_bytes() for name in SHIPPED},
    }
    objid, root, _rep = _mets_xml(ctx, doc=doc, stored=stored, copy_id=copy_id, files=files, when_iso=when)
    files["METS.xml"] = root
    folder = folder_name(objid)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for member in sorted(files):
            zf.writestr(f"{folder}/{member}", files[member])
    return out.getvalue()
