"""Acceptance (nghiệm thu) sampling: which pages of a lot an inspector looks at, by a documented,
reproducible rule (issue #17 point 4; see /shared/domain/acceptance-and-access.md §3).

No Vietnamese rule fixes a sampling rate, so the rule is a per-contract policy, one of:
  {"rule": "iso2859-1"}                          single sampling, general inspection level II: the sample
                                                 size follows the lot size (code letters A..Q)
  {"rule": "percent", "percent": 3.3, "minimum": 20}   a share of the pages, never fewer than `minimum`
The draw is seeded; the seed, the policy and the pages drawn are stored with the lot, so anyone can draw
again from the same ordered list of pages and get the same sample. Acceptance numbers (Ac/Re by AQL) are
not in code: they come from the contract with the standard's tables.

Switching (ISO 2859-1 §9.3, per station history): normal -> tightened when 2 of the last 5 lots (or fewer)
were rejected; tightened -> normal after 5 lots in a row accepted.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from protocol.clock import iso_vn
from protocol.errors import UserError
from protocol.i18n import N_
from server.records.db import Records

# (largest lot size, sample size) for general inspection level II, single sampling, normal inspection.
ISO2859_LEVEL_II = (
    (8, 2), (15, 3), (25, 5), (50, 8), (90, 13), (150, 20), (280, 32), (500, 50), (1200, 80), (3200, 125),
    (10_000, 200), (35_000, 315), (150_000, 500), (500_000, 800),
)
ISO2859_LARGEST = 1250



class PolicyError(UserError, ValueError):
    """A sampling policy that cannot be applied; says which key is wrong."""


@dataclass(frozen=True)
class Unit:
    """One page of the lot: the unit of inspection."""

    objid: str
    doc_id: str
    page: int


def sample_size(policy: dict[str, Any], lot_size: int) -> int:
    if lot_size <= 0:
        return 0
    rule = policy.get("rule")
    if rule == "iso2859-1":
        if lot_size < 2:
            return lot_size
        size = next((n for top, n in ISO2859_LEVEL_II if lot_size <= top), ISO2859_LARGEST)
        return min(size, lot_size)  # a sample as large as the lot is 100% inspection
    if rule == "percent":
        try:
            percent, minimum = float(policy["percent"]), int(policy.get("minimum", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(N_("percent policy needs a number 'percent' (and an integer 'minimum')")) from exc
        if not 0 < percent <= 100 or minimum < 0:
            raise PolicyError(N_("percent must be in (0, 100] and minimum >= 0"))
        return min(lot_size, max(minimum, math.ceil(lot_size * percent / 100)))
    raise PolicyError(N_("unknown sampling rule '%(rule)s': use 'iso2859-1' or 'percent'"), rule=rule)


def draw(units: list[Unit], policy: dict[str, Any], seed: str) -> list[Unit]:
    """The sample, in the lot's order: the same units, policy and seed always give the same pages."""
    n = sample_size(policy, len(units))
    picked = sorted(random.Random(f"sohoa-sample:{seed}").sample(range(len(units)), n))
    return [units[i] for i in picked]


def severity(history: list[bool], current: str = "normal") -> str:
    """Inspection severity for a station's next lot from its lots' outcomes (True = accepted), oldest first."""
    if current == "tightened":
        return "normal" if len(history) >= 5 and all(history[-5:]) else "tightened"
    return "tightened" if history[-5:].count(False) >= 2 else "normal"


def record_sample(db: Records, *, lot: str, units: list[Unit], policy: dict[str, Any], drawn_by: str,
                  station_id: str = "", severity_: str = "normal", seed: str | None = None) -> dict[str, Any]:
    """Draw a lot's sample and keep the seed, policy and pages with it; returns the stored row."""
    seed = seed or secrets.token_hex(16)
    sample = draw(units, policy, seed)
    row = {
        "id": uuid.uuid4().hex, "lot": lot, "station_id": station_id, "policy": json.dumps(policy, sort_keys=True),
        "severity": severity_, "seed": seed, "lot_size": len(units),
        "sample": json.dumps([asdict(u) for u in sample], ensure_ascii=False), "drawn_by": drawn_by,
        "drawn_at": iso_vn(),
    }
    cols = list(row)
    with db.tx() as conn:
        conn.execute(f"INSERT INTO acceptance_samples ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                     tuple(row[c] for c in cols))
    return row


def samples(db: Records, lot: str) -> list[dict[str, Any]]:
    rows = db.query("SELECT * FROM acceptance_samples WHERE lot = ? ORDER BY drawn_at", (lot,))
    return [dict(r, policy=json.loads(r["policy"]), sample=[Unit(**u) for u in json.loads(r["sample"])])
            for r in rows]
