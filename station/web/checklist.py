"""What would stop a hồ sơ at finishing, found before any OCR or signing starts: sheet count against the
work order, hồ sơ and document metadata, open QC flags, documents without pages and pages without a
document. Each problem names the screen (and field or page) where it is fixed, in Vietnamese for the
operator and English for logs. The finish API refuses while any is left; the finish screen shows them all
at once, each with a button that goes there."""

from __future__ import annotations

from typing import Any

from protocol.errors import Message, say
from protocol.i18n import N_
from protocol.metadata import DocumentRecord, FileRecord, check_document, check_file
from station import review as rv


def _item(code: str, message: str | Message, screen: str, **where: Any) -> dict[str, Any]:
    said = message if isinstance(message, Message) else Message(message)
    return {"code": code, **said.as_dict(), "screen": screen, **where}


def problems(store: Any, batch_id: int) -> list[dict[str, Any]]:
    """Every reason the hồ sơ cannot be finished now (empty: ready)."""
    batch = store.batch(batch_id)
    pages = store.pages(batch_id)
    live = [p for p in pages if not p["blank"]]
    out: list[dict[str, Any]] = []
    sheets = len({p["sheet"] for p in pages})  # the number the package declares (numberOfPaper)
    if not live:
        out.append(_item("no_pages", N_("The hồ sơ has no pages yet: scan them."), "scan"))
    expected = batch.get("expected_sheets")
    if expected and sheets != expected:
        out.append(_item("sheet_count", say(N_("%(sheets)s sheets scanned but the work order says %(expected)s: scan "
                                               "the missing sheets or delete the extra ones (a sheet fed twice)."),
                                              sheets=sheets, expected=expected),
                         "scan", sheets=sheets, expected=expected))
    record = dict(batch["record"])
    try:
        hoso = FileRecord(**{k: v for k, v in record.items() if k in FileRecord.__dataclass_fields__})
    except TypeError as exc:
        out.append(_item("hoso_incomplete", say(N_("The hồ sơ lacks a required field (%(error)s)."), error=str(exc)),
                         "documents"))
        hoso = None
    if hoso is not None:
        for p in check_file(hoso):
            if not p.warning and p.field != "number_of_paper":
                out.append(_item("hoso_field", say(N_("Hồ sơ – %(problem)s"), problem=p.said),
                                 "documents", form="hoso", field=p.field))
    flags = rv.unresolved(store, batch_id)
    if flags and not rv.overridden(store, batch_id):
        out.append(_item("open_flags", say(N_("%(count)s pages still have quality flags: accept them or scan again."),
                                           count=len(flags)),
                         "review", page=flags[0]["page_id"], count=len(flags)))
    docs = store.documents(batch_id)
    live_ids = {p["id"] for p in live}
    if not docs and live:
        out.append(_item("no_documents", N_("The hồ sơ is not split into documents with their details yet."),
                         "documents"))
    seen: set[int] = set()
    for i, row in enumerate(docs):
        rec = row["record"]
        ids = [pid for pid in rec.get("page_ids") or [] if pid in live_ids]
        seen.update(ids)
        if not ids:
            out.append(_item("empty_document", say(N_("Document %(n)s has no pages: remove the split or merge it "
                                                      "into the next document."), n=i + 1),
                             "documents", document=i))
        try:
            doc = DocumentRecord(**{k: v for k, v in rec.items() if k in DocumentRecord.__dataclass_fields__})
        except TypeError:
            out.append(_item("document_incomplete", say(N_("Document %(n)s: a required field is missing."), n=i + 1),
                             "documents", document=i))
            continue
        for p in check_document(doc, batch["file_code"]):
            if not p.warning:
                out.append(_item("document_field", say(N_("Document %(n)s – %(problem)s"), n=i + 1, problem=p.said),
                                 "documents", document=i, field=p.field))
    loose = [p["id"] for p in live if p["id"] not in seen]
    if docs and loose:
        out.append(_item("pages_outside", say(N_("%(count)s pages belong to no document: save the split into "
                                                 "documents."),
                                              count=len(loose)), "documents",
                         page=loose[0]))
    return out
