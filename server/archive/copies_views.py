"""Pages for copies to users: the request form, the copy made, its download, and the read-only view.

Its own blueprint (registered by server.app with one line) under /archive/copies, behind the same
login/role/CSRF guard as the rest of the archive; every copy made, read or downloaded goes into the log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from protocol.clock import now_vn
from server.accounts import auth
from server.archive import audit, browse, copies, render
from server.pages import ctx, guard, lang

bp = Blueprint("archive_copies", __name__, url_prefix="/archive/copies", template_folder="templates")
bp.before_request(guard)
archivist = auth.require_role("archivist")



def _log(action: str, target: str, detail: str = "") -> None:
    audit.record(ctx().db, actor=g.user.name, action=action, target=target, address=request.remote_addr or "?",
                 detail=detail)


def _form_page(error: str = "", status: int = 200, form: dict[str, Any] | None = None) -> ResponseReturnValue:
    form = form or {}
    objid = (request.values.get("objid") or "").strip()[:100]
    row = browse.catalogued(ctx(), objid) if objid else None
    if objid and row is None:  # a mã hồ sơ rather than an OBJID: its current version
        current = ctx().catalog.packages(file_code=objid, include_superseded=False)
        if current:
            objid = current[-1]["objid"]
            row = browse.catalogued(ctx(), objid)
    if objid and row is None and not error:
        error, status = _("No stored hồ sơ has this code."), 404
    documents = row.get("documents", []) if row else []
    default_until = (now_vn().date() + timedelta(days=copies.READ_MAX_DAYS)).isoformat()
    return render_template("archive/copies.html", error=error, objid=objid, hoso=row, documents=documents,
                           kinds=copies.KINDS, purposes=copies.PURPOSES, form=form, default_until=default_until,
                           recent=copies.recent(ctx())), status


@bp.get("/", endpoint="index")
@archivist
def index() -> ResponseReturnValue:
    return _form_page()


@bp.post("/", endpoint="make")
@archivist
def make() -> ResponseReturnValue:
    f = request.form
    try:
        req = copies.parse_request(f)
        row = copies.make_copy(ctx(), objid=f.get("objid", "").strip()[:100], doc_id=f.get("doc_id", "")[:200],
                               kind=f.get("kind", ""), request=req, actor=g.user.name,
                               address=request.remote_addr or "?")
    except copies.CopyError as exc:
        return _form_page(exc.text(lang()), exc.status, dict(f))
    return redirect(url_for("archive_copies.show", copy_id=row["id"]), 303)


def _get(copy_id: str) -> dict:
    try:
        return copies.get(ctx(), copy_id)
    except copies.CopyError as exc:
        abort(exc.status, exc.text(lang()))


@bp.get("/<copy_id>", endpoint="show")
@archivist
def show(copy_id: str) -> ResponseReturnValue:
    return render_template("archive/copy.html", c=_get(copy_id))


@bp.get("/<copy_id>/file", endpoint="download")
@archivist
def download(copy_id: str) -> ResponseReturnValue:
    row = _get(copy_id)
    if row["kind"] == "read":
        abort(403, _("A read-only view cannot be downloaded."))
    _log("download", f"copy/{copy_id}", f"{row['kind']} of {row['objid']}/{row['doc_id']}")
    suffix = copies.path_of(ctx(), row).suffix
    return send_file(copies.path_of(ctx(), row), as_attachment=True,
                     download_name=f"BAN_SAO_{row['doc_id']}{suffix}",
                     mimetype="application/zip" if suffix == ".zip" else "application/pdf")


def _readable(copy_id: str) -> dict:
    try:
        return copies.readable(ctx(), copy_id)
    except copies.CopyError as exc:
        abort(exc.status, exc.text(lang()))


@bp.get("/<copy_id>/read", endpoint="read")
@archivist
def read(copy_id: str) -> ResponseReturnValue:
    row = _readable(copy_id)
    doc = copies.read_document(ctx(), row)
    _log("view_document", f"copy/{copy_id}", f"read-only view of {row['objid']}/{row['doc_id']}")
    return render_template("archive/copy_read.html", c=row, pages=doc.page_count,
                           until=copies._vn_date(row["until"]))


@bp.get("/<copy_id>/read/<int:page>.png", endpoint="read_page")
@archivist
def read_page(copy_id: str, page: int) -> ResponseReturnValue:
    doc = copies.read_document(ctx(), _readable(copy_id))
    try:
        path = render.page_png(doc, page, render.WIDTHS[1])
    except render.ViewerError as exc:
        abort(exc.status, str(exc))
    resp = send_file(path, mimetype="image/png")
    resp.headers["Cache-Control"] = "no-store"  # an expired view must not stay readable from a cache
    return resp
