"""Copies for users (TT05 Điều 37, 40-42): made for a request (who, purpose, until when), kept, logged.

Four kinds: a read-only view (bản đọc: the archive's name bottom-centre of every page, readable online
until its date, at most 15 days), a "BẢN SAO" copy (bản sao không xác thực), a certified copy signed by the
archive (bản sao có xác thực), and a certified copy as a DIP (the original document untouched with its own
signature, an authentication sheet PDF/A signed by the archive, and the request in its EAD).

Every copy is derived from the document taken out of the stored package; the package itself is only read.
The copy's file goes under data_dir/copies/ (written atomically), its row into `archive_copies`, and its
making into the access log (`copy`), as does every later read or download of it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from protocol.clock import iso_vn, now_vn
from protocol.durable import write_atomic
from protocol.errors import UserError
from protocol.i18n import N_
from server.archive import audit, copies_pdf, render, signing

KINDS = ("read", "copy", "certified", "dip")
PURPOSES = ("01", "02", "03")  # TT05: cá nhân, công vụ, công vụ đặc biệt
READ_MAX_DAYS = 15  # TT05 Điều 37: the reading period



class CopyError(UserError, ValueError):
    """A refused request; `.text(lang)` is what the archivist sees, `status` the HTTP answer."""


@dataclass(frozen=True)
class CopyRequest:
    recipient: str  # họ tên người nhận
    recipient_id: str  # số định danh / CCCD
    purpose: str  # 01 | 02 | 03
    purpose_content: str
    until: date  # the copy's validity (read-only view: the last day it can be read)
    request_id: str = ""  # the request's own number, if the reading room gave one
    research_topic: str = ""

    def check(self, kind: str, today: date) -> None:
        if kind not in KINDS:
            raise CopyError(N_("unknown copy kind '%(kind)s'"), kind=kind)
        if not self.recipient.strip() or len(self.recipient) > 200:
            raise CopyError(N_("recipient is required (at most 200 characters)"))
        if len(self.recipient_id) > 50 or len(self.purpose_content) > 1000 or len(self.research_topic) > 500:
            raise CopyError(N_("a request field is too long"))
        if self.purpose not in PURPOSES:
            raise CopyError(N_("purpose must be 01, 02 or 03"))
        if self.until < today:
            raise CopyError(N_("the validity date is in the past"))
        if kind == "read" and self.until > today + timedelta(days=READ_MAX_DAYS):
            raise CopyError(N_("a read-only view lasts at most %(read_max_days)s days"), read_max_days=READ_MAX_DAYS)


def parse_request(form: Any) -> CopyRequest:
    """A CopyRequest from a form or CLI mapping; a bad date is a CopyError."""
    try:
        until = date.fromisoformat(str(form.get("until", "")).strip())
    except ValueError as exc:
        raise CopyError(N_("until must be a date YYYY-MM-DD")) from exc
    return CopyRequest(recipient=str(form.get("recipient", "")).strip(),
                       recipient_id=str(form.get("recipient_id", "")).strip(),
                       purpose=str(form.get("purpose", "")).strip(),
                       purpose_content=str(form.get("purpose_content", "")).strip(),
                       until=until, request_id=str(form.get("request_id", "")).strip()[:100],
                       research_topic=str(form.get("research_topic", "")).strip())


def _root(ctx: Any) -> Path:
    return Path(ctx.config.data_dir) / "copies"


def make_copy(ctx: Any, *, objid: str, doc_id: str, kind: str, request: CopyRequest, actor: str,
              address: str) -> dict[str, Any]:
    """Make, store and record one copy; returns its row. The stored package is only read."""
    request.check(kind, now_vn().date())
    try:
        doc = render.open_document(ctx, objid, doc_id)
    except render.ViewerError as exc:
        raise CopyError(N_("The document is not in the archive (%(error)s)."),
                        error=str(exc), status=exc.status) from exc
    stored = ctx.store.get(objid)
    copy_id = uuid.uuid4().hex
    name = signing.archive_name(ctx.config)
    master = doc.pdf.read_bytes()
    when = iso_vn(millis=False)
    try:
        if kind == "read":
            data, suffix = copies_pdf.stamp(master, name, where="bottom_centre"), "pdf"
        elif kind == "copy":
            data, suffix = copies_pdf.stamp(master, "BẢN SAO", where="top_right", pages="first"), "pdf"
        elif kind == "certified":
            marked = copies_pdf.stamp(master, f"BẢN SAO\n{name}\n{when}", where="top_right", pages="first")
            data, suffix = _sign(ctx, marked, "Bản sao có chứng thực"), "pdf"
        else:
            from server.archive import copies_dip

            data = copies_dip.build(ctx, doc=doc, stored=stored, request=request, copy_id=copy_id, when=when,
                                    sign=lambda pdf: _sign(ctx, pdf, "Xác thực bản sao dạng gói tin sử dụng"))
            suffix = "zip"
    except (copies_pdf.CopyPdfError, signing.ArchiveKeyError) as exc:
        raise CopyError(exc.msgid, status=503, **exc.params) from exc
    path = _root(ctx) / f"{copy_id}.{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    row = {"id": copy_id, "kind": kind, "objid": objid, "doc_id": doc_id, "version": stored.version,
           "source_sha256": stored.sha256, "request": json.dumps(_request_dict(request), ensure_ascii=False),
           "until": request.until.isoformat(), "made_by": actor, "made_at": iso_vn(), "file": path.name,
           "sha256": hashlib.sha256(data).hexdigest()}
    with ctx.db.tx() as conn:
        conn.execute(f"INSERT INTO archive_copies ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                     tuple(row.values()))
    audit.record(ctx.db, actor=actor, action="copy", target=f"{objid}/{doc_id}", address=address,
                 detail=f"{kind} {copy_id} for {request.recipient} ({request.purpose}) until {row['until']}")
    return row


def _request_dict(request: CopyRequest) -> dict[str, str]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(request).items()}


def _sign(ctx: Any, data: bytes, reason: str) -> bytes:
    return signing.sign(data, ctx.config, field="ArchiveCertification", reason=reason,
                        name=signing.archive_name(ctx.config))


def get(ctx: Any, copy_id: str) -> dict[str, Any]:
    row = ctx.db.one("SELECT * FROM archive_copies WHERE id = ?", (copy_id,)) if len(copy_id) == 32 else None
    if row is None:
        raise CopyError(N_("no copy %(copy_id)s"), copy_id=copy_id, status=404)
    return dict(row, request=json.loads(row["request"]))


def path_of(ctx: Any, row: dict[str, Any]) -> Path:
    return _root(ctx) / row["file"]  # the name was made here (uuid + kind's suffix), never typed by a user


def readable(ctx: Any, copy_id: str, *, today: date | None = None) -> dict[str, Any]:
    """A read-only view that may still be read; refuses it after its date (410)."""
    row = get(ctx, copy_id)
    if row["kind"] != "read":
        raise CopyError(N_("not a read-only view"), status=404)
    if date.fromisoformat(row["until"]) < (today or now_vn().date()):
        raise CopyError(N_("The read-only view expired on %(day)s."), day=_vn_date(row["until"]), status=410)
    return row


def read_document(ctx: Any, row: dict[str, Any]) -> render.StoredDocument:
    """The read-only view's PDF shaped as the viewer's document, so its pages render through render.page_png."""
    pdf = path_of(ctx, row)
    cache = Path(ctx.config.data_dir) / "cache" / "copies" / row["id"]
    cache.mkdir(parents=True, exist_ok=True)
    return render.StoredDocument(row["objid"], row["doc_id"], pdf, "", row["sha256"], pdf, cache,
                                 render._page_count(pdf, cache))


def recent(ctx: Any, limit: int = 50) -> list[dict[str, Any]]:
    rows = ctx.db.query("SELECT * FROM archive_copies ORDER BY made_at DESC LIMIT ?", (limit,))
    return [dict(r, request=json.loads(r["request"])) for r in rows]


def _vn_date(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y}"
