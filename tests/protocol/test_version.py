"""The version packages record is pyproject.toml's, read from the installed distribution (one place)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from protocol.version import SOFTWARE, VERSION

ROOT = Path(__file__).resolve().parents[2]


def test_the_recorded_version_is_the_projects():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert VERSION == declared and SOFTWARE == f"sohoa {declared}"


def test_a_package_names_this_version_in_its_agents(tmp_path):
    from protocol.package import read_package
    from protocol.package.sample import build_sample

    contents = read_package(build_sample(tmp_path / "sample", kind="AIP").path)
    assert contents.software == SOFTWARE  # the METS creator agent (CSIP14/15)
    agents = {a for e in contents.events for a in e["agents"]}
    assert any(a.startswith("software:") for a in agents), agents  # the probe sees software agents at all
    assert {a for a in agents if a.startswith("software:sohoa")} == {f"software:{SOFTWARE}"}
