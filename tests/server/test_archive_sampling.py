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
