"""Rebuild a returned hồ sơ from its stored package, for a station that no longer has its pages (#17.5).

The archive serves the stored package to the station that made it (station.sync.client.rework_package); from
it this module puts the batch back as it was sent, so the operator goes on exactly as with a local batch:

- the hồ sơ's 18 fields and each document's 21 fields through protocol.package.records, the same reading
  the server's checks make of a package;
- each page's image is the JPEG of its signed PDF's image layer, taken out byte for byte (pikepdf, the raw
  DCT stream: never decoded and re-encoded) with the dpi its page geometry states; its OCR text layer is
  kept beside it, so a page nobody touches goes into the new version with the same image and the same text
  (`carried_page`, used by station.finishing); a page turned or rescanned is processed and OCRed anew;
- the documents split as they were; each page's sheet, side, device and capture time from the PREMIS
  capture event that names it (OCR events give the pages of each document in order).

A package is refused, with nothing written, when a member path is absolute or climbs out (`../`), when it
is not the hồ sơ on the rework list (OBJID, file code, the station named in its transfer event), or when a
page of a PDF has no image layer. No name from the zip ever names a file here: everything written goes into
the batch's own folders (pages/<uid>/ for images, derived/<uid>/ for text layers), each file atomically,
before the one transaction that records them.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pikepdf

from protocol.clock import iso_vn
from protocol.durable import fsync_dir, write_atomic
from protocol.errors import UserError
from protocol.hashing import sha256_bytes, sha256_file
from protocol.i18n import N_
from protocol.package import read_package
from protocol.package.records import document_record, file_record
from protocol.package.source import open_source
from protocol.pdftext import PAGE_END, pdf_text
from station.store import Batch, BatchState, Page, Store

log = logging.getLogger("sohoa.station.sync")

_CAPTURE = re.compile(r"^(?P<source>\S+) side=(?P<side>\S+) sheet=(?P<sheet>\d+)(?: (?P<settings>.*))?$")
_CONFIDENCE = re.compile(r"^confidence (\d+(?:\.\d+)?)$")
_STATION = re.compile(r" at station (\S+)$")
_TEXT_LAYER = "/SohoaOCR"  # station.output.pdfa.TEXT_LAYER_APP: the /PieceInfo key of our OCR layer


class RebuildError(UserError):
    """A stored package the station will not rebuild a batch from; nothing was written."""

    status = 422
    key = "rework_package"
    default = N_("The package from the archive cannot be used to reopen the hồ sơ.")


# -- what a stored page gives back ------------------------------------------------------------------
def page_layers(pdf_path: Path, *, label: str) -> list[dict[str, Any]]:
    """Per page of a stored PDF: {"jpeg", "dpi", "text_pdf" (a one-page PDF holding only the OCR layer, or
    None), "text"}. RebuildError when a page has no single JPEG image layer."""
    texts = pdf_text(pdf_path, timeout=300).split(PAGE_END)  # the text the catalogue indexes
    out = []
    try:
        pdf = pikepdf.open(pdf_path)
    except pikepdf.PdfError as exc:
        raise RebuildError(N_("%(label)s: not a readable PDF: %(exc)s"), label=label, exc=exc) from exc
    with pdf:
        for n, page in enumerate(pdf.pages, start=1):
            images, forms = [], []
            xobjects = page.obj.get("/Resources", pikepdf.Dictionary()).get("/XObject", pikepdf.Dictionary())
            for _, xo in xobjects.items():
                if xo.get("/Subtype") == "/Image":
                    images.append(xo)
                elif xo.get("/Subtype") == "/Form" and _TEXT_LAYER in xo.get("/PieceInfo", pikepdf.Dictionary()):
                    forms.append(xo)
            if len(images) != 1 or images[0].get("/Filter") != "/DCTDecode":
                raise RebuildError(
                    N_("%(label)s page %(n)s: %(count)s image layers (need one JPEG): not a page this station made"),
                    label=label, n=n, count=len(images))
            image = images[0]
            width_pt = float(page.mediabox[2]) - float(page.mediabox[0])
            dpi = round(int(image.Width) * 72.0 / width_pt, 2) if width_pt > 0 else 0.0
            if dpi <= 0:
                raise RebuildError(N_("%(label)s page %(n)s: no page size to take the dpi from"), label=label, n=n)
            out.append({"jpeg": image.read_raw_bytes(), "dpi": float(round(dpi)) if abs(dpi - round(dpi)) < 0.05
                        else dpi, "text_pdf": _text_pdf(forms[0]) if forms else None,
                        "text": texts[n - 1] if n <= len(texts) else ""})
    return out


def _text_pdf(form: pikepdf.Object) -> bytes:
    """The OCR layer (a form XObject laid over the image) as the one-page text-only PDF that
    station.output.pdfa lays over a page: same box, same content, same fonts."""
    doc = pikepdf.new()
    box = [float(v) for v in form.BBox]
    page = doc.add_blank_page(page_size=(box[2] - box[0], box[3] - box[1]))
    page.obj.MediaBox = pikepdf.Array(box)
    form = doc.copy_foreign(form)  # the stream with all it refers to (fonts); direct parts come along
    page.obj.Resources = form.get("/Resources", pikepdf.Dictionary())
    content = form.read_bytes()
    matrix = form.get("/Matrix")
    if matrix is not None:  # a form's own matrix applies to its content: keep it
        content = (" ".join(str(float(v)) for v in matrix) + " cm\n").encode() + content
    page.obj.Contents = doc.make_stream(content)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# -- the package, checked ---------------------------------------------------------------------------
def _safe_members(package: Path) -> None:
    try:
        with zipfile.ZipFile(package) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise RebuildError(N_("%(name)s: not a readable zip: %(exc)s"), name=package.name, exc=exc) from exc
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if name.startswith("/") or "\\" in name or ".." in parts or ":" in parts[0]:
            raise RebuildError(N_("%(name)s: member '%(name2)s' is an absolute or climbing path"),
                               name=package.name, name2=name)


def _check_identity(contents: Any, item: dict[str, Any], station_id: str) -> None:
    theirs = ""
    for event in contents.events:
        if event["type"] == "transfer" and (m := _STATION.search(event.get("detail") or "")):
            theirs = m.group(1)
    wrong = []
    if contents.objid != item.get("objid"):
        wrong.append(f"OBJID {contents.objid!r} is not {item.get('objid')!r}")
    if item.get("file_code") and contents.file_code != item["file_code"]:
        wrong.append(f"file code {contents.file_code!r} is not {item['file_code']!r}")
    if station_id and theirs and theirs != station_id:
        wrong.append(f"made by station {theirs!r}, not {station_id!r}")
    if wrong:
        raise RebuildError(
            N_("the downloaded package is not this station's returned hồ sơ: %(wrong)s"), wrong='; '.join(wrong))


def _history(events: list[dict]) -> tuple[dict[str, list[str]], dict[str, dict], dict[str, float]]:
    """From PREMIS: each document's page refs in order (OCR events), each page ref's capture, each page
    ref's OCR confidence."""
    order: dict[str, list[str]] = {}
    captures: dict[str, dict] = {}
    confidence: dict[str, float] = {}
    for e in events:
        objs = e.get("objects") or []
        if e["type"] == "OCR" and len(objs) == 2:
            order.setdefault(objs[0], []).append(objs[1])
            if m := _CONFIDENCE.match(e.get("detail") or ""):
                confidence[objs[1]] = float(m.group(1))
        elif e["type"] == "capture" and len(objs) == 1 and (m := _CAPTURE.match(e.get("detail") or "")):
            settings = dict(kv.split("=", 1) for kv in (m["settings"] or "").split(", ") if "=" in kv)
            device = next((a[len("device:"):] for a in e.get("agents") or [] if a.startswith("device:")), "")
            captures[objs[0]] = {"source": m["source"], "side": m["side"], "sheet": int(m["sheet"]),
                                 "settings": settings, "device": device, "captured_at": e.get("at") or ""}
    return order, captures, confidence


# -- the rebuild --------------------------------------------------------------------------------------
def rebuild(store: Store, data_dir: Path, item: dict[str, Any], package: Path, *, station_id: str,
            actor: str) -> Batch:
    """Put the batch of a rework item back from its stored package: a new SYNCED batch under the item's
    batch uid, or (a batch whose page files are gone) the same batch with its old pages set aside and the
    package's pages in their place. Returns the batch, ready for station.sync.rework.reopen."""
    data_dir = Path(data_dir)
    _safe_members(package)
    contents = read_package(package)
    _check_identity(contents, item, station_id)
    hoso, problems = file_record(contents)
    if problems:
        raise RebuildError(N_("%(objid)s: %(problems)s"), objid=contents.objid, problems='; '.join(problems))
    uid = item.get("batch_uid") or str(uuid.uuid4()).upper()
    existing = store.one("SELECT id, file_code, state FROM batches WHERE uid = ?", (uid,))
    if existing and (existing["file_code"] != hoso.file_code or existing["state"] != BatchState.SYNCED):
        raise RebuildError(N_("batch %(uid)s is %(state)s for %(file_code)s: not rebuilt"),
                           uid=uid, state=existing['state'], file_code=existing['file_code'])
    order, captures, confidence = _history(contents.events)
    entries = sorted(contents.documents, key=lambda d: d.ordinal)
    present = set(contents.members)
    pages_dir, derived = data_dir / "pages" / uid, data_dir / "derived" / uid
    made = [d for d in (pages_dir.parent, pages_dir, derived.parent, derived) if not d.exists()]
    for folder in (pages_dir, derived):
        folder.mkdir(parents=True, exist_ok=True)
    last = store.one("SELECT COALESCE(MAX(seq), 0) AS n FROM pages WHERE batch_id = ?",
                     (existing["id"] if existing else -1,))
    seq = int(last["n"]) if last else 0
    docs, rows, written = [], [], []
    now = iso_vn()
    try:
        with open_source(package) as source:
            for entry in entries:
                record = document_record(entry, maintenance=hoso.maintenance)
                if record is None or entry.pdf_member not in present:
                    raise RebuildError(N_("%(doc)s: record or PDF missing"), doc=entry.doc_id or entry.metadata_path)
                tmp = derived / f".{uuid.uuid4().hex}.pdf"  # our own name: the member's never names a file
                written.append(tmp)
                source.copy_to(f"{contents.folder}/{entry.pdf_member}", tmp)
                layers = page_layers(tmp, label=f"{entry.doc_id}.pdf")
                tmp.unlink()
                refs = order.get(entry.doc_id) or []
                ids = []
                for n, layer in enumerate(layers):
                    seq += 1
                    ref = refs[n] if n < len(refs) else ""
                    cap = captures.get(ref) or {}
                    image = pages_dir / f"{seq:05d}-{cap.get('side', 'front')}.jpg"
                    text_pdf = derived / f"{seq:05d}-ocr.pdf"
                    written += [image, text_pdf]
                    write_atomic(image, layer["jpeg"])
                    if layer["text_pdf"] is not None:
                        write_atomic(text_pdf, layer["text_pdf"])
                    digest = sha256_bytes(layer["jpeg"])
                    rows.append({
                        "seq": seq, "sheet": cap.get("sheet") or seq, "side": cap.get("side", "front"),
                        "source": cap.get("source", "archive"), "device": cap.get("device") or "archive",
                        "settings": json.dumps(cap.get("settings") or {}, ensure_ascii=False),
                        "path": image.relative_to(data_dir).as_posix(), "sha256": digest, "dpi": layer["dpi"],
                        "captured_at": cap.get("captured_at") or now, "position": float(seq),
                        "processed_at": now, "derivative_path": image.relative_to(data_dir).as_posix(),
                        "derivative_sha256": digest, "blank": 0, "flags": "[]",
                        "processing": json.dumps({
                            "manual_rotation": 0, "rotation": 0, "angle": 0.0, "rotation_method": "none",
                            "package": {"objid": contents.objid, "version": item.get("version"),
                                        "sha256": item.get("sha256"), "jpeg_sha256": digest,
                                        "text_pdf": text_pdf.relative_to(data_dir).as_posix()
                                        if layer["text_pdf"] is not None else None,
                                        "text": layer["text"], "confidence": confidence.get(ref, 0.0)},
                        }, ensure_ascii=False),
                    })
                    ids.append(len(rows) - 1)
                docs.append((record, ids))
        for folder in (pages_dir, derived):
            fsync_dir(folder)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        for folder in reversed(made):  # the folders this attempt made, when nothing else is in them
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    from PIL import Image

    for row in rows:  # the pixel size the review screen and processing expect
        with Image.open(data_dir / row["path"]) as im:
            row["width"], row["height"] = im.size
    batch_id = _record(store, existing, uid, hoso, item, rows, docs, actor=actor, objid=contents.objid)
    log.info("batch %s rebuilt from the stored package of %s v%s: %d documents, %d pages", batch_id,
             contents.objid, item.get("version"), len(docs), len(rows), extra={"batch": batch_id})
    return store.batch(batch_id)


def _record(store: Store, existing: dict | None, uid: str, hoso: Any, item: dict, rows: list[dict],
            docs: list[tuple[Any, list[int]]], *, actor: str, objid: str) -> int:
    now = iso_vn()
    with store.tx() as conn:
        if existing:
            batch_id = existing["id"]
            conn.execute("UPDATE pages SET deleted = 1 WHERE batch_id = ? AND deleted = 0", (batch_id,))
            conn.execute("UPDATE batches SET record = ?, updated_at = ? WHERE id = ?",
                         (json.dumps(hoso.to_dict(), ensure_ascii=False), now, batch_id))
        else:
            batch_id = conn.execute(
                "INSERT INTO batches (uid, file_code, work_order_id, record, expected_sheets, state, operator,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (uid, hoso.file_code, item.get("work_order_id"), json.dumps(hoso.to_dict(), ensure_ascii=False),
                 hoso.number_of_paper or None, BatchState.SYNCED, actor, now, now)).lastrowid
        page_ids = []
        for row in rows:
            cols = ["batch_id", *row]
            page_ids.append(conn.execute(
                f"INSERT INTO pages ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                (batch_id, *row.values())).lastrowid)
        conn.execute("DELETE FROM documents WHERE batch_id = ?", (batch_id,))
        for record, indexes in docs:
            record.page_ids = [page_ids[i] for i in indexes]
            conn.execute("INSERT INTO documents (batch_id, ordinal, record) VALUES (?, ?, ?)",
                         (batch_id, record.ordinal, json.dumps(record.to_dict(), ensure_ascii=False)))
        Store._audit(conn, actor, "batch.rebuilt", batch_id, objid=objid, version=item.get("version"),
                     sha256=item.get("sha256"), pages=len(rows), documents=len(docs))
    return batch_id


def pages_missing(store: Store, data_dir: Path, batch: Batch) -> bool:
    """True when a page of the batch's documents has no file left (neither its derivative nor original)."""
    live = {p["id"]: p for p in store.pages(batch["id"])}
    wanted = [pid for row in store.documents(batch["id"]) for pid in row["record"].get("page_ids") or []]
    if not wanted:
        return True
    for pid in wanted:
        page = live.get(int(pid))
        if page is None or not any((Path(data_dir) / rel).is_file()
                                   for rel in (page["derivative_path"], page["path"]) if rel):
            return True
    return False


# -- at Finish ------------------------------------------------------------------------------------------
def carried_page(data_dir: Path, page: Page) -> Any:
    """The finished page (station.output.pages.FinishedPage) of a page rebuilt from a stored package that
    nobody has touched since: its stored image bytes and OCR layer as they were. None for any other page
    (it is OCRed as usual)."""
    carried = (page.get("processing") or {}).get("package")
    derivative = page.get("derivative_path")
    if not carried or not derivative or page.get("rotation") \
            or page.get("derivative_sha256") != carried.get("jpeg_sha256"):
        return None
    image = Path(data_dir) / derivative
    if sha256_file(image) != carried["jpeg_sha256"]:
        return None
    from station.output.pages import FinishedPage

    text_pdf = (Path(data_dir) / carried["text_pdf"]).read_bytes() if carried.get("text_pdf") else None
    return FinishedPage(ok=True, text=carried.get("text") or "", text_pdf=text_pdf,
                        confidence=float(carried.get("confidence") or 0.0), jpeg=image.read_bytes())
