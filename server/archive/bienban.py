"""The biên bản nghiệm thu: the acceptance record of a lot, as a PDF/A-2b signed by the archive (PAdES), filed
in each accepted hồ sơ's documentation/ as a new AIP version the server makes (stored versions are never
rewritten: docs/architecture.md, "Acceptance record"), with a PREMIS event naming who validated, when, and
the decision.

The archive signs with its own key (server/archive/signing.py): a certificate from the archive's CA, so the same
trust roots that check the stations' signatures check it.
"""

from __future__ import annotations

import io
import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pikepdf
from fpdf import FPDF

from protocol import pdfa
from protocol.clock import VN_TZ, iso_vn, now_vn
from protocol.package import PremisEvent, read_package
from protocol.package.migrate import migrate_package
from server.archive import audit, signing, states
from server.labels import label_in

FONT = Path("/usr/share/fonts/truetype/freefont/FreeSerif.ttf")
FONT_BOLD = Path("/usr/share/fonts/truetype/freefont/FreeSerifBold.ttf")
KIND_VI = {"missing_page": "Thiếu trang", "wrong_hoso": "Sai hồ sơ", "unreadable": "Không đọc được",
           "text_cut_off": "Mất chữ", "wrong_metadata": "Sai thông tin", "wrong_order": "Sai thứ tự",
           "wrong_orientation": "Sai chiều trang", "skew": "Nghiêng", "crop": "Cắt xén"}


def file_name(decision_id: str) -> str:
    return f"bienban-nghiemthu-{decision_id}.pdf"


def render(*, lot: str, decision: dict[str, Any], accepted: list[dict[str, Any]], returned: list[dict[str, Any]],
           agency: str, when: datetime) -> bytes:
    """The unsigned PDF/A-2b: lot, decision, who proposed and validated, the hồ sơ accepted and those returned
    with their defects."""
    doc = FPDF(format="A4")
    doc.set_margins(20, 20, 20)
    doc.add_font("serif", "", str(FONT))
    doc.add_font("serif", "B", str(FONT_BOLD))
    doc.add_page()
    doc.set_font("serif", "B", 14)
    doc.multi_cell(0, 8, "BIÊN BẢN NGHIỆM THU KẾT QUẢ SỐ HÓA", align="C", new_x="LMARGIN", new_y="NEXT")
    doc.set_font("serif", "", 11)
    kind, _, name = lot.partition(":")
    label = label_in("lot", kind, "vi", name=name)
    for line in (f"Cơ quan lưu trữ: {agency}", f"Lô: {label} ({lot})", f"Mã quyết định: {decision['id']}",
                 f"Người kiểm tra (đề xuất): {decision['proposed_by']} lúc {decision['proposed_at']}",
                 f"Người phê duyệt: {decision['validated_by']} lúc {decision['validated_at']}",
                 f"Lập lúc: {iso_vn(when, millis=False)}"):
        doc.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    for line in plan_lines(decision.get("plan"), decision.get("plan_reason") or ""):
        doc.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    doc.ln(3)
    doc.set_font("serif", "B", 12)
    doc.multi_cell(0, 7, f"Hồ sơ đạt nghiệm thu ({len(accepted)})", new_x="LMARGIN", new_y="NEXT")
    doc.set_font("serif", "", 11)
    for h in accepted:
        doc.multi_cell(0, 6, f"• {h['file_code']} — {h['title']} ({h['objid']})", new_x="LMARGIN", new_y="NEXT")
    doc.ln(2)
    doc.set_font("serif", "B", 12)
    doc.multi_cell(0, 7, f"Hồ sơ trả lại để làm lại ({len(returned)})", new_x="LMARGIN", new_y="NEXT")
    doc.set_font("serif", "", 11)
    for h in returned:
        doc.multi_cell(0, 6, f"• {h['file_code']} — {h['title']} ({h['objid']})", new_x="LMARGIN", new_y="NEXT")
        for d in h["defects"]:
            where = f"{d['doc_id']} trang {d['page']}" if d.get("doc_id") else "cả hồ sơ"
            note = f": {d['note']}" if d.get("note") else ""
            doc.multi_cell(0, 6, f"    – {KIND_VI.get(d['kind'], d['kind'])} ({d['class']}), {where}{note}",
                           new_x="LMARGIN", new_y="NEXT")
    raw = bytes(doc.output())
    return _as_pdfa(raw, title=f"Biên bản nghiệm thu {lot}", agency=agency, when=when)


def plan_lines(plan: Any, reason: str = "") -> list[str]:
    """The ISO 2859-1 plan of the decision in the biên bản: letter, n, and per class AQL, Ac, Re, d."""
    if isinstance(plan, str):
        plan = json.loads(plan) if plan else None
    if not plan:
        return []
    severity = label_in("severity", plan.get("severity", "normal"), "vi")
    lines = [f"Phương án lấy mẫu ISO 2859-1 (bảng {plan.get('table')}, kiểm tra {severity.lower()}): "
             f"mã chữ {plan['letter']}, cỡ mẫu n = {plan['n']}"]
    for cls, c in plan["classes"].items():
        lines.append(f"    – Lỗi {label_in('class', cls, 'vi').lower()}: AQL {c['aql']}, Ac = {c['ac']}, "
                     f"Re = {c['re']}, d = {(plan.get('d') or {}).get(cls, 0)}")
    verdict = {"accept": "đạt", "return": "không đạt"}.get(plan.get("verdict", ""), "")
    if verdict:
        lines.append(f"Kết luận theo phương án: {verdict}")
    if reason:
        lines.append(f"Đề xuất khác phương án, lý do: {reason}")
    return lines


def _as_pdfa(raw: bytes, *, title: str, agency: str, when: datetime) -> bytes:
    with pikepdf.open(io.BytesIO(raw)) as pdf:
        pdfa.identify(pdf, title=title, author=agency, when=when)
        out = io.BytesIO()
        pdf.save(out, fix_metadata_version=True, force_version="1.7", deterministic_id=False)
    return out.getvalue()


def _defects_by_hoso(db: Any, lot: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in db.query("SELECT objids, defects FROM acceptance_decisions WHERE lot = ? AND decision = 'return' "
                      "AND validated_by IS NOT NULL", (lot,)):
        for d in json.loads(r["defects"]):
            out.setdefault(d.get("objid") or "", []).append(d)
        for objid in json.loads(r["objids"]):
            out.setdefault(objid, [])
    return out


def file_record(ctx: Any, decision: dict[str, Any], *, address: str) -> dict[str, Any]:
    """After an `accept` was validated: make, sign and file the biên bản in every accepted hồ sơ as a new
    version; the hồ sơ become `archived`. Returns {"file": name, "versions": {objid: version}}."""
    from server.archive.lots import lot_hoso

    lot = decision["lot"]
    accepted_ids = json.loads(decision["objids"]) if isinstance(decision["objids"], str) else decision["objids"]
    hoso = {h["objid"]: h for h in lot_hoso(ctx, lot)}
    when = now_vn().astimezone(VN_TZ).replace(microsecond=0)
    agency = next((r["name"] for r in ctx.db.query("SELECT name FROM fonds WHERE code = ?",
                                                    (hoso[accepted_ids[0]]["fonds_code"],))), "") if hoso else ""
    returned = [dict(hoso.get(o, {"objid": o, "file_code": "", "title": ""}), defects=d)
                for o, d in _defects_by_hoso(ctx.db, lot).items() if o and o not in accepted_ids]
    accepted = [hoso.get(o, {"objid": o, "file_code": "", "title": ""}) for o in accepted_ids]
    pdf = signing.sign(render(lot=lot, decision=decision, accepted=accepted, returned=returned,
                              agency=agency or "Cơ quan lưu trữ", when=when), ctx.config,
                       field="ArchiveSignature", reason="Nghiệm thu kết quả số hóa", when=when)
    name = file_name(decision["id"])
    versions = {}
    for objid in accepted_ids:
        latest = ctx.store.get(objid)
        event = PremisEvent("accession", iso_vn(when), detail=f"nghiệm thu: accepted in lot {lot}; "
                            f"biên bản documentation/{name}", agent=f"person:{decision['validated_by']}",
                            extra={"decision": decision["id"], "inspector": decision["proposed_by"],
                                   "validator": decision["validated_by"]})
        with tempfile.TemporaryDirectory(dir=Path(ctx.config.data_dir)) as tmp:
            built = migrate_package(latest.path, Path(tmp), event=event, documentation={name: pdf},
                                    previous=f"version {latest.version}, SHA-256 {latest.sha256}")
            stored = ctx.store.put(built.path, objid=objid, sha256=built.sha256)
        previous = ctx.catalog.package(objid) or {}
        texts = {d["doc_id"]: d.get("text", "") for d in previous.get("documents", [])}
        ctx.catalog.add_package(read_package(stored.path), stored_path=str(stored.path), sha256=stored.sha256,
                                station_id=previous.get("station_id") or "", texts=texts, extract_text=False)
        states.set_state(ctx.db, objid, "archived", by=decision["validated_by"])
        versions[objid] = stored.version
    audit.record(ctx.db, actor=decision["validated_by"], action="decision", target=lot, address=address,
                 detail=f"archived {len(versions)} hồ sơ with {name} ({decision['id']})")
    return {"file": name, "versions": versions}
