"""The acceptance (nghiệm thu) pages: lots, a lot's gates and sample, the inspector's screen, the validator's
screen. Routes on the archive blueprint (archivist role, CSRF on every POST); every decision is in the
access log (decisions.propose/validate and bienban.file_record write it)."""

from __future__ import annotations

import json
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from protocol.i18n import N_
from server.archive import bienban, browse, decisions, lots, sampling, signing
from server.archive.decisions import DecisionError
from server.archive.views import archivist, bp
from server.labels import label
from server.pages import ctx, lang

DEFECT_KEYS = ("class", "kind", "objid", "doc_id", "page", "note")


def _lot(lot: str) -> str:
    try:
        return lots.check_name(lot)
    except lots.LotError:
        abort(404)


def _address() -> str:
    return request.remote_addr or "?"


def _decisions(lot: str | None = None, objid: str | None = None) -> list[dict[str, Any]]:
    db = ctx().db
    rows = db.query("SELECT * FROM acceptance_decisions WHERE lot = ? ORDER BY proposed_at", (lot,)) if lot else \
        db.query("SELECT * FROM acceptance_decisions WHERE objids LIKE ? ORDER BY proposed_at", (f'%"{objid}"%',))
    return [dict(r, objids=json.loads(r["objids"]), defects=json.loads(r["defects"])) for r in rows]


@bp.get("/lots")
@archivist
def lots_index() -> ResponseReturnValue:
    return render_template("archive/lots.html", lots=lots.lots(ctx()))


@bp.get("/lot/<lot>")
@archivist
def lot(lot: str) -> ResponseReturnValue:
    lot = _lot(lot)
    hoso = lots.lot_hoso(ctx(), lot)
    if not hoso:
        abort(404)
    gates = {}
    for h in hoso:
        view = browse.hoso_view(ctx(), h["objid"])
        gates[h["objid"]] = view["gates"] if view else []
    try:
        policy = lots.policy_for(ctx().config.acceptance, lot)
    except lots.LotError as exc:
        policy = {"error": exc.text(lang())}
    return render_template("archive/lot.html", lot=lot, hoso=hoso, gates=gates, policy=policy,
                           sample=lots.latest_sample(ctx(), lot), decisions=_decisions(lot))


@bp.post("/lot/<lot>/sample")
@archivist
def draw_sample(lot: str) -> ResponseReturnValue:
    lot = _lot(lot)
    try:
        row = lots.draw(ctx(), lot, by=g.user.name, address=_address())
    except (lots.LotError, sampling.PolicyError) as exc:
        flash(exc.text(lang()), "error")
        return redirect(url_for("archive.lot", lot=lot))
    flash(_("Sample of %(n)s pages drawn.", n=len(json.loads(row["sample"]))), "ok")
    return redirect(url_for("archive.lot", lot=lot))


def _inspector_units(lot: str, sample: dict[str, Any]) -> list[dict[str, Any]]:
    """The sampled pages with what the inspector checks beside each: its document's and hồ sơ's metadata."""
    out = []
    views: dict[str, Any] = {}
    for u in sample["sample"]:
        if u.objid not in views:
            views[u.objid] = browse.hoso_view(ctx(), u.objid)
        view = views[u.objid] or {"documents": [], "file_code": "", "title": "", "fields": []}
        doc = next((d for d in view["documents"] if d["doc_id"] == u.doc_id), None) or {"fields": []}
        out.append({
            "objid": u.objid, "doc_id": u.doc_id, "page": u.page, "pages": doc.get("page_count", 0),
            "file_code": view["file_code"], "title": view["title"],
            "img": url_for("archive.page_image", objid=u.objid, doc_id=u.doc_id, page=u.page, w=900),
            "img_big": url_for("archive.page_image", objid=u.objid, doc_id=u.doc_id, page=u.page, w=1800),
            "fields": [f for f in doc["fields"] if f["value"]],
            "hoso_fields": [f for f in view["fields"] if f["value"]][:8],
        })
    return out


@bp.get("/lot/<lot>/inspect")
@archivist
def inspect(lot: str) -> ResponseReturnValue:
    lot = _lot(lot)
    sample = lots.latest_sample(ctx(), lot)
    if sample is None:
        flash(_("Draw the sample first."), "error")
        return redirect(url_for("archive.lot", lot=lot))
    pending = [h for h in lots.lot_hoso(ctx(), lot) if h["pending"]]
    kinds = [{"class": c, "kind": k} for c, ks in decisions.DEFECTS.items() for k in ks]
    # marks kept in the browser (sessionStorage) survive a reload or a refused proposal, until one is recorded
    sent = any(d["proposed_at"] > sample["drawn_at"] for d in _decisions(lot))
    return render_template("archive/inspect.html", lot=lot, sample=sample, units=_inspector_units(lot, sample),
                           kinds=kinds, pending=pending, sent=sent)


def _defects(raw: str, objids: list[str]) -> list[dict[str, Any]]:
    """The marks from the inspector's screen, in the defect record contract (DEFECT_KEYS, nothing else)."""
    try:
        marks = json.loads(raw or "[]")
    except ValueError as exc:
        raise DecisionError(N_("The list of defects cannot be read; reload the page.")) from exc
    if not isinstance(marks, list) or len(marks) > 1000:
        raise DecisionError(N_("defects: expected a list"))
    out = []
    for m in marks:
        if not isinstance(m, dict) or m.get("objid") not in objids:
            raise DecisionError(N_("a defect names a hồ sơ outside this decision"))
        page = m.get("page")
        if page is not None and (not isinstance(page, int) or page < 1):
            raise DecisionError(N_("defect page must be a positive integer or null"))
        doc_id = m.get("doc_id") or None
        out.append({"class": str(m.get("class", "")), "kind": str(m.get("kind", "")), "objid": m["objid"],
                    "doc_id": doc_id, "page": page if doc_id else None, "note": str(m.get("note", ""))[:500]})
    return out


@bp.post("/lot/<lot>/propose")
@archivist
def propose(lot: str) -> ResponseReturnValue:
    lot = _lot(lot)
    pending = [h["objid"] for h in lots.lot_hoso(ctx(), lot) if h["pending"]]
    chosen = request.form.getlist("objid")  # the inspector may decide part of the lot (return some, accept others)
    objids = [o for o in pending if o in chosen] if chosen else pending
    try:
        defects = _defects(request.form.get("defects", ""), objids)
        sample = lots.latest_sample(ctx(), lot)
        did = decisions.propose(ctx().db, lot=lot, objids=objids, decision=request.form.get("decision", ""),
                                defects=defects, inspector=g.user.name, address=_address(),
                                note=request.form.get("note", "")[:2000],
                                plan=(sample or {}).get("policy", {}).get("plan"),
                                reason=request.form.get("plan_reason", "")[:2000])
    except DecisionError as exc:
        flash(exc.text(lang()), "error")
        return redirect(url_for("archive.inspect", lot=lot))
    flash(_("Proposal recorded; another person must validate it."), "ok")
    return redirect(url_for("archive.decision", decision_id=did))


def _decision(decision_id: str) -> dict[str, Any]:
    db = ctx().db
    row = db.one("SELECT * FROM acceptance_decisions WHERE id = ?", (decision_id,))
    if row is None:
        abort(404)
    return dict(row, objids=json.loads(row["objids"]), defects=json.loads(row["defects"]),
                plan=json.loads(row["plan"]) if row.get("plan") else None)


@bp.get("/decision/<decision_id>")
@archivist
def decision(decision_id: str, status: int = 200) -> ResponseReturnValue:
    d = _decision(decision_id)
    hoso = {h["objid"]: h for h in lots.lot_hoso(ctx(), d["lot"])}
    return render_template("archive/decision.html", d=d, hoso=hoso), status


@bp.post("/decision/<decision_id>/validate")
@archivist
def validate(decision_id: str) -> ResponseReturnValue:
    d = _decision(decision_id)
    try:
        if d["decision"] == "accept":
            signing.archive_key(ctx().config)  # refuse before the state changes when the biên bản cannot be signed
        makers = set().union(*(browse.makers(ctx(), objid) for objid in d["objids"]))
        done = decisions.validate(ctx().db, decision_id, validator=g.user.name, makers=makers,
                                  address=_address())
    except (DecisionError, signing.ArchiveKeyError) as exc:
        flash(exc.text(lang()), "error")
        return decision(decision_id, status=409)
    if done["decision"] == "accept":
        filed = bienban.file_record(ctx(), _decision(decision_id), address=_address())
        flash(_("Archived; the acceptance record %(file)s is signed and filed in documentation/.",
                file=filed["file"]), "ok")
    else:
        flash(_("Returned for rework with the defects."), "ok")
    return redirect(url_for("archive.decision", decision_id=decision_id))


@bp.app_template_global("archive_lot_label")
def _lot_label(lot: str) -> str:
    kind, _, name = lot.partition(":")
    return label("lot", kind, name=name) if kind in ("wo", "batch", "station") else lot


@bp.app_template_global("archive_acceptance")
def _acceptance(objid: str) -> dict[str, Any]:
    """What the hồ sơ page shows of acceptance: the samples that drew its pages and the decisions about it."""
    decided = _decisions(objid=objid)
    lots_ = {d["lot"] for d in decided} | {m["lot"] for o, m in lots._members(ctx()).items() if o == objid}
    drawn = [dict(s, mine=[u for u in s["sample"] if u.objid == objid])
             for lot in sorted(lots_) for s in sampling.samples(ctx().db, lot)]
    return {"decisions": decided, "samples": drawn, "lots": sorted(lots_)}
