"""ISO 2859-1 acceptance numbers: the Ac/Re of a lot's single sampling plan, per defect class, and its verdict.

The contract fixes an AQL per defect class ([acceptance] aql_critical, aql_major, aql_minor, in percent
nonconforming pages). The plan of a lot is read from the standard's single sampling master tables for the
code letter of the lot size (general inspection level II, sampling.ISO2859_LEVEL_II):
  Table II-A, normal inspection; Table II-B, tightened inspection (same sample sizes, stricter numbers).
Both tables are diagonal: the cell of code letter L and AQL column A depends only on index(L) + index(A),
so each is one short row here (`_NORMAL`, `_TIGHTENED`) instead of a 16x26 grid. An arrow means "use the
first plan below (↓) or above (↑)": the class then takes the Ac/Re of that plan (its sample size is shown
beside it); the lot's one drawn sample stays the code letter's, for every class. Reduced inspection
(Table II-C) is not encoded: the switching rules here never go to it (sampling.severity).
AQL 0 is the contract's "no defect of this class accepted" (Ac 0, Re 1), which the standard has no column for.

The verdict: d = the sampled pages with at least one marked defect of the class (a mark on the whole hồ sơ
or document counts as one); the lot is accepted when d <= Ac for every class, rejected when d >= Re for any.
"""

from __future__ import annotations

from typing import Any

from protocol.i18n import N_
from server.archive.sampling import ISO2859_LEVEL_II, PolicyError
from server.config import AQL_COLUMNS

LETTERS = "ABCDEFGHJKLMNPQR"
SAMPLE = dict(zip(LETTERS, (2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000), strict=True))
AQLS = AQL_COLUMNS[1:]  # the master tables' AQL columns up to 10 (percent nonconforming stops there)
DOWN, UP = "↓", "↑"
# Cell by diagonal index(letter) + index(AQL): below the first entry ↓, past the last ↑.
_NORMAL = {14: (0, 1), 15: UP, 16: DOWN, 17: (1, 2), 18: (2, 3), 19: (3, 4), 20: (5, 6), 21: (7, 8),
           22: (10, 11), 23: (14, 15), 24: (21, 22)}
_TIGHTENED = {15: (0, 1), 16: DOWN, 17: DOWN, 18: (1, 2), 19: (2, 3), 20: (3, 4), 21: (5, 6), 22: (8, 9),
              23: (12, 13), 24: (18, 19)}
TABLES = {"normal": ("II-A", _NORMAL, 15), "tightened": ("II-B", _TIGHTENED, 16)}  # last letter index (Q, R)
CLASSES = ("critical", "major", "minor")


def code_letter(lot_size: int) -> str:
    """Table I, general inspection level II."""
    for i, (top, _) in enumerate(ISO2859_LEVEL_II):
        if lot_size <= top:
            return LETTERS[i]
    return "Q"


def _cell(table: dict, letter: int, aql: int) -> Any:
    d = letter + aql
    if d < min(table):
        return DOWN
    return table.get(d, UP)


def single_plan(letter: str, aql: float, severity: str = "normal") -> dict[str, Any]:
    """{"letter", "n", "ac", "re"} of the plan for `letter` and `aql`, arrows followed."""
    if severity not in TABLES:
        raise PolicyError(N_("no ISO 2859-1 table for '%(severity)s' inspection here (normal or tightened)"),
                          severity=severity)
    if aql == 0:
        return {"letter": letter, "n": SAMPLE[letter], "ac": 0, "re": 1}
    if aql not in AQLS:
        raise PolicyError(N_("AQL %(aql)s is not a column of ISO 2859-1 (%(str)s, or 0)"),
                          aql=aql, str=', '.join(map(str, AQLS)))
    _, table, last = TABLES[severity]
    i, col = LETTERS.index(letter), AQLS.index(aql)
    step = None
    for _ in range(len(LETTERS)):
        cell = _cell(table, i, col)
        if isinstance(cell, tuple):
            return {"letter": LETTERS[i], "n": SAMPLE[LETTERS[i]], "ac": cell[0], "re": cell[1]}
        step = step or (1 if cell == DOWN else -1)  # follow the first arrow to its plan, never back
        if not 0 <= i + step <= last:
            step = -step  # no plan beyond the table's edge that way: the first one the other way
        i += step
    raise PolicyError(N_("no plan for %(letter)s/%(aql)s"), letter=letter, aql=aql)


def plan(lot_size: int, severity: str, aqls: dict[str, float]) -> dict[str, Any]:
    """The lot's plan: code letter, the drawn sample size n (capped by the lot: 100 % inspection), the table,
    and per defect class its AQL with the Ac/Re (and the plan's own letter and n when an arrow moved it)."""
    letter = code_letter(lot_size)
    out: dict[str, Any] = {"letter": letter, "n": min(SAMPLE[letter], lot_size), "severity": severity,
           "table": TABLES[severity][0] if severity in TABLES else "", "classes": {}}
    for cls in CLASSES:
        out["classes"][cls] = {"aql": aqls[cls], **single_plan(letter, aqls[cls], severity)}
    return out


def counts(defects: list[dict[str, Any]]) -> dict[str, int]:
    """d per class: the distinct pages (or whole hồ sơ/document marks) with a defect of that class."""
    seen: dict[str, set] = {c: set() for c in CLASSES}
    for n, m in enumerate(defects):
        if m.get("class") in seen:
            where = (m.get("objid"), m.get("doc_id"), m.get("page")) if m.get("page") else ("whole", n)
            seen[m["class"]].add(where)
    return {c: len(s) for c, s in seen.items()}


def verdict(plan_: dict[str, Any], defects: list[dict[str, Any]]) -> dict[str, Any]:
    """{"verdict": "accept" | "return", "d": {class: d}}: return when any class reaches its Re."""
    d = counts(defects)
    rejected = [c for c, p in plan_["classes"].items() if d[c] >= p["re"]]
    return {"verdict": "return" if rejected else "accept", "d": d, "rejected": rejected}
