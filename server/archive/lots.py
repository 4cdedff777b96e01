"""Acceptance lots: the hồ sơ that came in under one work order (or one batch, or, with neither, from one
station), their states, the pages an inspector samples from them, and which sampling rule their contract
names ([acceptance] in the server configuration).

A lot is named `wo:<work order id>`, `batch:<batch uid>` or `station:<station id>`; which hồ sơ it holds
is read from the accepted uploads (the manifest a station sent) joined to the catalogue's current versions.
"""

from __future__ import annotations

import json
import re
from typing import Any

from protocol.errors import UserError
from protocol.i18n import N_
from server.archive import browse, sampling, states

PENDING = ("received", "in_review")  # states an inspector decides on
LOT_RE = re.compile(r"^(wo|batch|station):[A-Za-z0-9_.-]{1,100}$")


class LotError(UserError, ValueError):
    """A lot name or contract rule that cannot be used; `.text(lang)` is what the archivist sees."""


def lot_of(upload: dict[str, Any]) -> str:
    if upload.get("work_order_id"):
        return f"wo:{upload['work_order_id']}"
    if upload.get("batch_uid"):
        return f"batch:{upload['batch_uid']}"
    return f"station:{upload['station_id']}"


def _members(ctx: Any) -> dict[str, dict[str, Any]]:
    """OBJID -> {lot, station_id} from the newest accepted upload of each hồ sơ."""
    out: dict[str, dict[str, Any]] = {}
    for row in ctx.db.query("SELECT station_id, batch_uid, work_order_id, receipt FROM uploads "
                            "WHERE state = 'accepted' ORDER BY updated_at"):
        try:
            objid = json.loads(row["receipt"] or "{}").get("objid", "")
        except ValueError:
            continue
        if objid:
            out[objid] = {"lot": lot_of(row), "station_id": row["station_id"]}
    return out


def _hoso_rows(ctx: Any, objids: list[str]) -> list[dict[str, Any]]:
    if not objids:
        return []
    marks = ",".join("?" * len(objids))
    rows = browse.catalog_rows(ctx.catalog, "SELECT objid, file_code, title, fonds_code, number_of_page, station_id, "
                               f"added_at FROM packages WHERE superseded_by IS NULL AND objid IN ({marks}) "
                               "ORDER BY file_code", list(objids))
    st = states.state_of(ctx.db, [r["objid"] for r in rows])
    changed = {r["objid"]: r["changed_at"] for r in ctx.db.query(
        f"SELECT objid, changed_at FROM archive_states WHERE objid IN ({marks})", tuple(objids))}
    out = []
    for r in rows:
        state = st[r["objid"]]
        # returned, and a newer version came in since (the rework): to be inspected again
        reworked = state == "returned" and (r["added_at"] or "") > changed.get(r["objid"], "")
        out.append(dict(r, state=state, reworked=reworked, pending=state in PENDING or reworked))
    return out


def lots(ctx: Any) -> list[dict[str, Any]]:
    """Every lot with its hồ sơ (current versions) and their states, newest names last."""
    by_lot: dict[str, list[str]] = {}
    for objid, m in _members(ctx).items():
        by_lot.setdefault(m["lot"], []).append(objid)
    out = []
    for lot, objids in sorted(by_lot.items()):
        hoso = _hoso_rows(ctx, objids)
        if hoso:
            out.append({"lot": lot, "hoso": hoso, "pages": sum(int(h["number_of_page"] or 0) for h in hoso),
                        "counts": {s: sum(1 for h in hoso if h["state"] == s) for s in states.STATES}})
    return out


def check_name(lot: str) -> str:
    if not LOT_RE.match(lot or ""):
        raise LotError(N_("not a lot name: '%(lot)s'"), lot=lot)
    return lot


def lot_hoso(ctx: Any, lot: str) -> list[dict[str, Any]]:
    check_name(lot)
    return _hoso_rows(ctx, [o for o, m in _members(ctx).items() if m["lot"] == lot])


def units(ctx: Any, objids: list[str]) -> list[sampling.Unit]:
    """Every page of the lot, in a fixed order (hồ sơ by OBJID as given, documents by ordinal): the list the
    seeded draw picks from, so the same lot always gives the same list."""
    if not objids:
        return []
    marks = ",".join("?" * len(objids))
    rows = browse.catalog_rows(ctx.catalog, "SELECT objid, doc_id, ordinal, page_count FROM documents "
                               f"WHERE objid IN ({marks})", list(objids))
    order = {o: i for i, o in enumerate(objids)}
    rows.sort(key=lambda r: (order[r["objid"]], int(r["ordinal"] or 0), r["doc_id"]))
    return [sampling.Unit(r["objid"], r["doc_id"], p) for r in rows for p in range(1, int(r["page_count"] or 0) + 1)]


def policy_for(rules: Any, lot: str) -> dict[str, Any]:
    """The sampling policy of the lot's contract: a `contracts` line naming its work order or batch, else
    the default. Lines: "WO-12=iso2859-1" or "WO-13=percent:5:30" (percent, minimum)."""
    name = lot.split(":", 1)[1]
    for line in rules.contracts:
        key, _, rule = line.partition("=")
        if key.strip() != name:
            continue
        parts = rule.strip().split(":")
        if parts[0] == "iso2859-1" and len(parts) == 1:
            return {"rule": "iso2859-1"}
        if parts[0] == "percent" and len(parts) == 3:
            try:
                return {"rule": "percent", "percent": float(parts[1]), "minimum": int(parts[2])}
            except ValueError:
                pass
        raise LotError(N_("acceptance.contracts: cannot read '%(line)s' (use NAME=iso2859-1 or NAME=percent:P:MIN)"),
                       line=line)
    if rules.sampling_rule == "iso2859-1":
        return {"rule": "iso2859-1"}
    return {"rule": "percent", "percent": rules.sampling_percent, "minimum": rules.sampling_minimum}


def station_severity(ctx: Any, station_id: str) -> str:
    """ISO 2859-1 switching per station: the outcomes of its earlier validated lots, oldest first."""
    lots_ = [r["lot"] for r in ctx.db.query("SELECT DISTINCT lot FROM acceptance_samples WHERE station_id = ?",
                                             (station_id,))]
    history: list[bool] = []
    current = "normal"
    if lots_:
        marks = ",".join("?" * len(lots_))
        rows = ctx.db.query(f"SELECT decision FROM acceptance_decisions WHERE lot IN ({marks}) "
                            "AND validated_by IS NOT NULL ORDER BY validated_at", tuple(lots_))
        for r in rows:
            history.append(r["decision"] == "accept")
            current = sampling.severity(history, current)
    return current


def draw(ctx: Any, lot: str, *, by: str, address: str) -> dict[str, Any]:
    """Draw (and store) the lot's sample from its pages by its contract's rule; the draw, its seed and rule
    go into the access log with the decisions they lead to."""
    from server.archive import audit

    hoso = [h for h in lot_hoso(ctx, lot) if h["pending"]]  # what is still to be decided
    if not hoso:
        raise LotError(N_("lot %(lot)s has no hồ sơ waiting for acceptance"), lot=lot)
    station = hoso[0]["station_id"] or ""
    pages = units(ctx, [h["objid"] for h in hoso])
    policy, severity = policy_for(ctx.config.acceptance, lot), station_severity(ctx, station)
    if policy["rule"] == "iso2859-1" and pages:  # the plan (letter, n, Ac/Re per class) is kept with the draw
        from server.archive import aql

        policy = dict(policy, plan=aql.plan(len(pages), severity, ctx.config.acceptance.aqls()))
    row = sampling.record_sample(ctx.db, lot=lot, units=pages, policy=policy, drawn_by=by, station_id=station,
                                 severity_=severity)
    audit.record(ctx.db, actor=by, action="decision", target=lot, address=address,
                 detail=f"sample {row['id']} seed {row['seed']} {row['policy']} {row['severity']}: "
                        f"{len(json.loads(row['sample']))} of {row['lot_size']} pages")
    return row


def latest_sample(ctx: Any, lot: str) -> dict[str, Any] | None:
    drawn = sampling.samples(ctx.db, lot)
    return drawn[-1] if drawn else None
