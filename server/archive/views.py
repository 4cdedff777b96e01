"""The archive's pages and the JSON/images the viewer reads. Every view needs the archivist role (admins
pass too); every view of a hồ sơ or document, download, search and export goes into the access log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue

from server.accounts import auth
from server.archive import audit, browse, find, render, states
from server.labels import label
from server.pages import ctx, guard

bp = Blueprint("archive", __name__, url_prefix="/archive", template_folder="templates")
bp.before_request(guard)  # the same login, role and CSRF checks as every other page
archivist = auth.require_role("archivist")


def _log(action: str, target: str, detail: str = "") -> None:
    audit.record(ctx().db, actor=g.user.name, action=action, target=target, address=request.remote_addr or "?",
                 detail=detail)


def _document(objid: str, doc_id: str) -> render.StoredDocument:
    try:
        return render.open_document(ctx(), objid, doc_id)
    except render.ViewerError as exc:
        abort(exc.status, str(exc))


@bp.get("/")
@archivist
def index() -> ResponseReturnValue:
    return render_template("archive/index.html", fonds=browse.fonds_list(ctx()))


@bp.get("/fonds/<fonds_code>")
@archivist
def fonds(fonds_code: str) -> ResponseReturnValue:
    return render_template("archive/fonds.html", fonds_code=fonds_code, hoso=browse.hoso_list(ctx(), fonds_code),
                           states=states.STATES)


@bp.get("/hoso/<objid>")
@archivist
def hoso(objid: str) -> ResponseReturnValue:
    view = browse.hoso_view(ctx(), objid)
    if view is None:
        abort(404)
    _log("view_hoso", objid, view["file_code"])
    render.prewarm(ctx(), objid, [d["doc_id"] for d in view["documents"]])
    return render_template("archive/hoso.html", h=view)


@bp.get("/doc/<objid>/<doc_id>")
@archivist
def viewer(objid: str, doc_id: str) -> ResponseReturnValue:
    doc = _document(objid, doc_id)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), max(doc.page_count, 1))
    q = request.args.get("q", "")[: find.MAX_QUERY]
    _log("view_document", f"{objid}/{doc_id}", f"page {page}" + (f"; q={q}" if q else ""))
    row = browse.catalogued(ctx(), objid) or {}
    subject = next((d.get("subject", "") for d in row.get("documents", []) if d.get("doc_id") == doc_id), "")
    return render_template("archive/viewer.html", objid=objid, doc_id=doc_id, pages=doc.page_count, page=page,
                           q=q, subject=subject, file_code=row.get("file_code", ""), widths=render.WIDTHS)


@bp.get("/doc/<objid>/<doc_id>/page/<int:page>.png")
@archivist
def page_image(objid: str, doc_id: str, page: int) -> ResponseReturnValue:
    doc = _document(objid, doc_id)
    try:
        path = render.page_png(doc, page, request.args.get("w", render.WIDTHS[1], type=int) or render.WIDTHS[1])
    except render.ViewerError as exc:
        abort(exc.status, str(exc))
    resp = send_file(path, mimetype="image/png", max_age=3600)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@bp.get("/doc/<objid>/<doc_id>/text/<int:page>")
@archivist
def page_text(objid: str, doc_id: str, page: int) -> ResponseReturnValue:
    doc = _document(objid, doc_id)
    try:
        layer = render.text_layer(doc, page, find.query_words(request.args.get("q", "")[: find.MAX_QUERY]))
    except render.ViewerError as exc:
        return jsonify({"error": str(exc)}), exc.status
    return jsonify(layer)


@bp.get("/doc/<objid>/<doc_id>/integrity")
@archivist
def integrity(objid: str, doc_id: str) -> ResponseReturnValue:
    return jsonify(render.integrity(ctx(), _document(objid, doc_id)))


@bp.get("/doc/<objid>/<doc_id>/download")
@archivist
def download(objid: str, doc_id: str) -> ResponseReturnValue:
    doc = _document(objid, doc_id)
    _log("download", f"{objid}/{doc_id}", doc.member)
    return send_file(doc.pdf, mimetype="application/pdf", as_attachment=True, download_name=f"{doc_id}.pdf")


def _filters() -> find.Filters:
    a = request.args
    return find.Filters(fonds=a.get("fonds", "")[:100], year=a.get("year", "")[:4],
                        file_code=a.get("hoso", "")[:100], doc_type=a.get("type", "")[:2])


@bp.get("/find", endpoint="find")
@archivist
def find_view() -> ResponseReturnValue:
    q = request.args.get("q")
    result = None
    if q is not None:
        filters = _filters()
        result = find.find(ctx().catalog, q, filters, page=request.args.get("page", 1, type=int) or 1)
        _log("search", result.query[:200], " ".join(f"{k}={v}" for k, v in vars(filters).items() if v))
    from protocol.metadata import TYPE_NAME

    return render_template("archive/find.html", r=result, q=q or "", f=_filters(), types=TYPE_NAME,
                           fonds=[r["fonds_code"] for r in browse.fonds_list(ctx())])



def _audit_filter() -> audit.Filter:
    a = request.args
    action = a.get("action", "")
    return audit.Filter(actor=a.get("actor", "")[:100].strip(), action=action if action in audit.ACTIONS else "",
                        target=a.get("target", "")[:200].strip(), since=_day(a.get("since", "")),
                        until=_day(a.get("until", "")))


def _day(value: str) -> str:
    import re

    return value if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value or "") else ""


@bp.get("/audit", endpoint="audit")
@auth.require_role("admin")
def audit_log() -> ResponseReturnValue:
    before = request.args.get("before", type=int)
    where = _audit_filter()
    rows = audit.entries(ctx().db, limit=200, before=before, where=where)
    return render_template("archive/audit.html", rows=rows, f=where, actions=audit.ACTIONS,
                           query={k: v for k, v in vars(where).items() if v})


@bp.get("/audit.csv")
@auth.require_role("admin")
def audit_csv() -> ResponseReturnValue:
    where = _audit_filter()
    _log("export", "audit.csv", " ".join(f"{k}={v}" for k, v in vars(where).items() if v))
    return Response(audit.to_csv(ctx().db, where), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=sohoa-audit.csv"})


def url_for_hit(hit: Any, q: str) -> str:
    if not hit.doc_id:
        return url_for("archive.hoso", objid=hit.objid)
    return url_for("archive.viewer", objid=hit.objid, doc_id=hit.doc_id, page=hit.page, q=q)


@bp.app_template_global("archive_hit_url")
def _hit_url(hit: Any, q: str) -> str:
    return url_for_hit(hit, q)


@bp.app_template_global("archive_t_state")
def _state_text(state: str) -> str:
    return label("state", state)
