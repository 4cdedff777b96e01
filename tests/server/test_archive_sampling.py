"""Acceptance sampling (nghiệm thu): ISO 2859-1 level II sample sizes at the lot-size boundaries, a percentage
with a minimum, reproducible seeded draws kept with the lot on both record backends, switching rules."""

from __future__ import annotations

import pytest
from records_support import open_records, records, records_target  # noqa: F401 - fixtures

from server.archive import sampling
from server.archive.sampling import PolicyError, Unit

ISO = {"rule": "iso2859-1"}


@pytest.mark.parametrize(("lot", "size"), [
    (0, 0), (1, 1), (2, 2), (8, 2), (9, 3), (50, 8), (51, 13), (500, 50), (501, 80), (1200, 80), (1201, 125),
    (3200, 125), (3201, 200), (10_000, 200), (10_001, 315), (600_000, 1250),
])
def test_iso2859_level_ii_sample_sizes(lot: int, size: int):
    assert sampling.sample_size(ISO, lot) == size


def test_percent_with_a_minimum():
    policy = {"rule": "percent", "percent": 3.3, "minimum": 20}
    assert sampling.sample_size(policy, 1000) == 33  # rounded up: never below the share
    assert sampling.sample_size(policy, 100) == 20
    assert sampling.sample_size(policy, 12) == 12
    for bad in ({"rule": "percent"}, {"rule": "percent", "percent": 0}, {"rule": "percent", "percent": "x"},
                {"rule": "percent", "percent": 5, "minimum": -1}, {"rule": "aql-ish"}):
        with pytest.raises(PolicyError):
            sampling.sample_size(bad, 100)


def _units(n: int) -> list[Unit]:
    return [Unit("urn:x", f"doc.{i // 10 + 1}", i % 10 + 1) for i in range(n)]


def test_draw_is_reproducible_and_in_lot_order():
    units = _units(700)
    first = sampling.draw(units, ISO, "seed-1")
    assert len(first) == 80 and len(set(first)) == 80
    assert first == sampling.draw(units, ISO, "seed-1")
    assert first != sampling.draw(units, ISO, "seed-2")
    assert [units.index(u) for u in first] == sorted(units.index(u) for u in first)


def test_sample_kept_with_its_seed_and_drawn_again(records):  # noqa: F811 - fixture
    units = _units(300)
    row = sampling.record_sample(records, lot="WO-7", units=units, policy={"rule": "percent", "percent": 10},
                                 drawn_by="chi.luutru", station_id="tram-01")
    [kept] = sampling.samples(records, "WO-7")
    assert kept["seed"] == row["seed"] and kept["lot_size"] == 300 and len(kept["sample"]) == 30
    assert kept["sample"] == sampling.draw(units, kept["policy"], kept["seed"])  # anyone can check it
    assert (kept["drawn_by"], kept["station_id"]) == ("chi.luutru", "tram-01")


def test_switching_rules():
    assert sampling.severity([True, True, True]) == "normal"
    assert sampling.severity([True, False, True, False]) == "tightened"
    assert sampling.severity([False, True, True, True, True, False]) == "normal"  # only one in the last 5
    assert sampling.severity([True] * 4, "tightened") == "tightened"
    assert sampling.severity([False] + [True] * 5, "tightened") == "normal"


# ISO 2859-1 single sampling plans, read from the master tables (rows: sample size code letter, columns: AQL).
@pytest.mark.parametrize(("table", "letter", "aql", "plan"), [
    # Table II-A (normal), row J (n = 80): AQL 0.65 → 1/2, 1.0 → 2/3, 2.5 → 5/6, 4.0 → 7/8, 10 → 14/15
    ("normal", "J", 0.65, ("J", 80, 1, 2)), ("normal", "J", 1.0, ("J", 80, 2, 3)),
    ("normal", "J", 2.5, ("J", 80, 5, 6)), ("normal", "J", 4.0, ("J", 80, 7, 8)),
    ("normal", "J", 10.0, ("J", 80, 14, 15)),
    # Table II-A row K (n = 125): 0.65 → 2/3, 1.5 → 5/6, 6.5 → 14/15, 10 → 21/22
    ("normal", "K", 0.65, ("K", 125, 2, 3)), ("normal", "K", 1.5, ("K", 125, 5, 6)),
    ("normal", "K", 6.5, ("K", 125, 14, 15)), ("normal", "K", 10.0, ("K", 125, 21, 22)),
    # Table II-A row E (n = 13): 1.0 → 0/1; 1.5 is ↑: the first plan above, row D at 1.5 = 0/1 (n = 8)
    ("normal", "E", 1.0, ("E", 13, 0, 1)), ("normal", "E", 1.5, ("D", 8, 0, 1)),
    # E/2.5 is ↓: the first plan below, row F at 2.5 = 1/2 (n = 20); E/4.0 → 1/2, E/6.5 → 2/3, E/10 → 3/4
    ("normal", "E", 2.5, ("F", 20, 1, 2)), ("normal", "E", 4.0, ("E", 13, 1, 2)),
    ("normal", "E", 6.5, ("E", 13, 2, 3)), ("normal", "E", 10.0, ("E", 13, 3, 4)),
    # Table II-A row L (n = 200) at AQL 10 is ↑: row K's 21/22 (n = 125)
    ("normal", "L", 10.0, ("K", 125, 21, 22)),
    # Table II-B (tightened), row J (n = 80): 0.65 ↓ → K's 1/2, 1.0 → 1/2, 1.5 → 2/3, 2.5 → 3/4, 4.0 → 5/6,
    # 6.5 → 8/9, 10 → 12/13
    ("tightened", "J", 0.65, ("K", 125, 1, 2)), ("tightened", "J", 1.0, ("J", 80, 1, 2)),
    ("tightened", "J", 1.5, ("J", 80, 2, 3)), ("tightened", "J", 2.5, ("J", 80, 3, 4)),
    ("tightened", "J", 4.0, ("J", 80, 5, 6)), ("tightened", "J", 6.5, ("J", 80, 8, 9)),
    ("tightened", "J", 10.0, ("J", 80, 12, 13)),
    # Table II-B row E (n = 13): 1.5 → 0/1, 6.5 → 1/2, 10 → 2/3; row K at 10 → 18/19
    ("tightened", "E", 1.5, ("E", 13, 0, 1)), ("tightened", "E", 6.5, ("E", 13, 1, 2)),
    ("tightened", "E", 10.0, ("E", 13, 2, 3)), ("tightened", "K", 10.0, ("K", 125, 18, 19)),
])
def test_iso2859_acceptance_numbers_from_the_tables(table, letter, aql, plan):
    from server.archive import aql as aql_

    got = aql_.single_plan(letter, aql, table)
    assert (got["letter"], got["n"], got["ac"], got["re"]) == plan


def test_iso2859_plan_of_a_lot_and_its_verdict():
    from server.archive import aql

    # Table I level II: 1,000 pages → J (n = 80); normal, AQL critical 0 / major 1.0 / minor 4.0
    plan = aql.plan(1000, "normal", {"critical": 0.0, "major": 1.0, "minor": 4.0})
    assert (plan["letter"], plan["n"], plan["table"]) == ("J", 80, "II-A")
    assert {c: (p["ac"], p["re"]) for c, p in plan["classes"].items()} == {
        "critical": (0, 1), "major": (2, 3), "minor": (7, 8)}
    page = {"objid": "O", "doc_id": "D.1"}
    two_major = [dict(page, **{"class": "major", "page": 1}), dict(page, **{"class": "major", "page": 1}),
                 dict(page, **{"class": "major", "page": 2})]  # two marks on page 1 count once: d = 2 = Ac
    assert aql.verdict(plan, two_major) == {"verdict": "accept", "d": {"critical": 0, "major": 2, "minor": 0},
                                            "rejected": []}
    three = [*two_major, dict(page, **{"class": "major", "page": None, "doc_id": None})]  # whole hồ sơ: one more
    assert aql.verdict(plan, three)["verdict"] == "return" and aql.verdict(plan, three)["rejected"] == ["major"]
    one_critical = [dict(page, **{"class": "critical", "page": 3})]
    assert aql.verdict(plan, one_critical)["verdict"] == "return"  # critical 0: Re 1
    assert aql.plan(5, "normal", {"critical": 0.0, "major": 1.0, "minor": 4.0})["n"] == 2  # A: n = 2
    assert aql.plan(1, "normal", {"critical": 0.0, "major": 1.0, "minor": 4.0})["n"] == 1  # the whole lot
    with pytest.raises(sampling.PolicyError):
        aql.plan(1000, "reduced", {"critical": 0.0, "major": 1.0, "minor": 4.0})
    with pytest.raises(sampling.PolicyError):
        aql.single_plan("J", 3.0, "normal")  # not a column of the tables
