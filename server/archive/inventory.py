"""The inventory (mục lục hồ sơ) of chosen hồ sơ, for `sohoa server export inventory`: a CSV for people and
spreadsheets, and the hồ sơ's own EAD records taken from their stored packages (each checked against the
profile's schema, protocol/schemas/tt05/ead*.xsd, before it is written out). Current versions only.
"""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

from protocol.package.schemas import ead_schema_name, validate
from server.archive import audit, browse, states

COLUMNS = ("stt", "ma_ho_so", "tieu_de", "thoi_gian_bat_dau", "thoi_gian_ket_thuc", "so_van_ban", "so_to",
           "so_trang", "thoi_han_bao_quan", "ma_phong", "trang_thai", "objid", "sha256")


class InventoryError(ValueError):
    pass


def choose(ctx: Any, *, fonds: str = "", file_codes: list[str] | None = None) -> list[dict[str, Any]]:
    """Current hồ sơ of a fonds and/or with the given file codes, in file-code order."""
    where, args = ["superseded_by IS NULL"], []
    if fonds:
        where.append("fonds_code = ?")
        args.append(fonds)
    if file_codes:
        where.append(f"file_code IN ({', '.join('?' * len(file_codes))})")
        args.extend(file_codes)
    rows = browse.catalog_rows(ctx.catalog, "SELECT objid, file_code, title, start_date, end_date, total_doc, "
                               "number_of_paper, number_of_page, fonds_code, sha256, hoso FROM packages WHERE "
                               + " AND ".join(where) + " ORDER BY file_code", args)
    if not rows:
        raise InventoryError("no stored hồ sơ matches (check --fonds / --hoso)")
    found = {r["file_code"] for r in rows}
    missing = [c for c in file_codes or [] if c not in found]
    if missing:
        raise InventoryError(f"not in the archive: {', '.join(missing)}")
    return rows


def to_csv(ctx: Any, rows: list[dict[str, Any]]) -> bytes:
    import json

    from server.labels import label_in

    st = states.state_of(ctx.db, [r["objid"] for r in rows])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for n, r in enumerate(rows, 1):
        hoso = json.loads(r["hoso"] or "{}") if isinstance(r["hoso"], str) else (r["hoso"] or {})
        writer.writerow([audit._cell(v) for v in (
            n, r["file_code"], r["title"], r["start_date"], r["end_date"], r["total_doc"],
            r["number_of_paper"] or "", r["number_of_page"], hoso.get("maintenance", ""), r["fonds_code"],
            label_in("state", st[r["objid"]], "vi"), r["objid"], r["sha256"])])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: spreadsheet programs then read the diacritics


def to_ead_zip(ctx: Any, rows: list[dict[str, Any]]) -> bytes:
    """MUC_LUC/<file code>/EAD.xml for each hồ sơ, as stored, each valid against its schema."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dest:
        for r in rows:
            stored = ctx.store.get(r["objid"])
            contents = browse.read_stored(stored.path)
            with zipfile.ZipFile(stored.path) as src:
                data = src.read(f"{contents.folder}/metadata/descriptive/EAD.xml")
            reasons = validate(ead_schema_name(kind=contents.kind, document=False), data)
            if reasons:
                raise InventoryError(f"EAD.xml of {r['file_code']} does not match its schema: {reasons[0]}")
            dest.writestr(f"MUC_LUC/{r['file_code']}/EAD.xml", data)
    return out.getvalue()


def log_export(ctx: Any, *, actor: str, address: str, rows: list[dict[str, Any]], fmt: str) -> None:
    audit.record(ctx.db, actor=actor, action="export", target=f"inventory.{fmt}", address=address,
                 detail=f"{len(rows)} hồ sơ: " + ", ".join(r["file_code"] for r in rows[:50]))
