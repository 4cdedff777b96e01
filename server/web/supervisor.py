"""What the supervisor's dashboard adds to the live figures: the pace of every operator, station and fonds
against the plan (the work orders' expected sheets), each operator's defect rate from acceptance, and the
rejection reasons in Vietnamese.

The plan is what the work orders hold: sheets expected per fonds and per station (orders assigned to it and
not yet accepted). There is no planned rate in the work orders, so "against the plan" is what is left of it
and how many working hours that takes at today's pace (pages per hour over the hours with any pages).

Defect rates come from validated acceptance decisions (server/archive/decisions.py): each defect counts
against the people who made its hồ sơ, as its PREMIS history names them (the same people the four-eyes
rule keeps from validating), per 100 pages of the hồ sơ they made that were decided.
"""

from __future__ import annotations

import json
from typing import Any

from protocol.clock import now_vn

CLASSES = ("critical", "major", "minor")


def _rate_rows(rows: list[dict[str, Any]], by: str, hour: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(r[by] or "", {"name": r[by] or "", "this_hour": 0, "today": 0, "hours": 0})
        entry["today"] += r["pages"]
        entry["hours"] += 1
        if r["hour"] == hour:
            entry["this_hour"] += r["pages"]
    for entry in out.values():
        entry["per_hour"] = round(entry["today"] / entry["hours"], 1) if entry["hours"] else 0.0
    return out


def _against(entry: dict[str, Any], expected: int, scanned: int) -> dict[str, Any]:
    left = max(expected - scanned, 0)
    per_hour = entry.get("per_hour", 0.0)
    return {**entry, "expected": expected, "scanned": scanned, "left": left,
            "percent": min(100, round(100 * scanned / expected)) if expected else 0,
            "hours_left": round(left / per_hour, 2) if per_hour and left else (0.0 if not left else None)}


def pace(ctx: Any, work: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Pages this hour, today and per working hour, per operator, station and fonds; plan where there is one."""
    now = now_vn()
    today, hour = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m-%dT%H")
    rows = {by: (ctx.monitor.throughput(by=by, bucket="hour", since=today) if ctx.monitor else [])
            for by in ("operator", "station", "fonds")}
    rates = {by: _rate_rows(rows[by], by, hour) for by in rows}
    blank = {"this_hour": 0, "today": 0, "hours": 0, "per_hour": 0.0}
    fonds = [_against({**blank, **rates["fonds"].get(f["fonds"], {}), "name": f["fonds"]}, f["expected"],
                      f["scanned"]) for f in work["fonds"]]
    fonds += [_against(e, 0, 0) for name, e in sorted(rates["fonds"].items()) if name not in {f["fonds"] for f in
                                                                                                 work["fonds"]}]
    plan: dict[str, list[int]] = {}
    for order in work["orders"]:
        if order.get("station_id") and order["stage"] != "accepted":
            p = plan.setdefault(order["station_id"], [0, 0])
            p[0] += order["expected_sheets"]
            p[1] += order["pages_scanned"]
    registered = {row["id"] for row in ctx.db.stations() if not row["revoked"]}  # an idle station shows too
    names = sorted(set(plan) | set(rates["station"]) | registered)
    stations = [_against({**blank, **rates["station"].get(n, {}), "name": n}, *plan.get(n, [0, 0])) for n in names]
    operators = sorted(rates["operator"].values(), key=lambda e: e["name"])
    return {"operator": operators, "station": stations, "fonds": fonds}


def defect_rates(ctx: Any) -> list[dict[str, Any]]:
    """Per operator: hồ sơ and pages decided, defects by class, defects per 100 pages (validated decisions)."""
    from server.archive import browse

    decided = ctx.db.query("SELECT objids, defects FROM acceptance_decisions WHERE validated_by IS NOT NULL")
    if not decided:
        return []
    out: dict[str, dict[str, Any]] = {}
    for row in decided:
        objids = json.loads(row["objids"])
        defects = json.loads(row["defects"])
        for objid in objids:
            package = ctx.catalog.package(objid) or {}
            pages = int(package.get("number_of_page") or 0)
            mine = [d for d in defects if d.get("objid") == objid or (not d.get("objid") and len(objids) == 1)]
            for person in browse.makers(ctx, objid):
                e = out.setdefault(person, {"operator": person, "hoso": 0, "pages": 0,
                                            **dict.fromkeys(CLASSES, 0)})
                e["hoso"] += 1
                e["pages"] += pages
                for d in mine:
                    if d.get("class") in CLASSES:
                        e[d["class"]] += 1
    for e in out.values():
        total = sum(e[c] for c in CLASSES)
        e["defects"] = total
        e["per_100"] = round(100 * total / e["pages"], 2) if e["pages"] else 0.0
    return sorted(out.values(), key=lambda e: (-e["per_100"], e["operator"]))


def reasons_vi(reasons: list[str]) -> list[str]:
    """A rejection's reasons (English, "check: detail") as the Vietnamese names of what failed, once each."""
    from server.labels import LABELS, label_in

    out: list[str] = []
    for reason in reasons:
        head = reason.split(":", 1)[0].strip().replace(" ", "_") if ":" in reason else ""
        said = label_in("reject", head if head in LABELS["reject"] else "other", "vi")
        if said not in out:
            out.append(said)
    return out
