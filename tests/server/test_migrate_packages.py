"""`sohoa server migrate-packages`: packages stored before the E-ARK update become a conformant new version;
the old version stays; everything but the METS (and an AIP's PREMIS.xml) is kept byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eark_support import unexplained, validate  # noqa: E402

from protocol.hashing import sha256_file  # noqa: E402
from protocol.package import read_package  # noqa: E402
from server.catalogue.catalog import Catalog  # noqa: E402
from server.checks import STRUCTURAL, run_checks  # noqa: E402
from server.config import ServerConfig  # noqa: E402
from server.store.storage import PackageStore  # noqa: E402

LEGACY = Path(__file__).resolve().parent.parent / "data" / "legacy"
REWRITTEN = {"METS.xml", "representations/rep1/METS.xml", "metadata/preservation/PREMIS.xml"}


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist() if not n.endswith("/")}


def _migrate(data: Path, *extra: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "sohoa", "server", "--data", str(data), "migrate-packages", *extra],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_stored_legacy_packages_are_migrated_as_new_versions(tmp_path):
    config = ServerConfig(data_dir=tmp_path / "server")
    store = PackageStore(config.store_dir, backup_root=config.backup_dir)
    catalog = Catalog(config.catalog_path)
    stored = {}
    for name in ("aip-before-csip.zip", "sip-before-csip.zip"):
        contents = read_package(LEGACY / name)
        sha = sha256_file(LEGACY / name)
        stored[contents.objid] = store.put(LEGACY / name, objid=contents.objid, sha256=sha)
        catalog.add_package(contents, stored_path=str(stored[contents.objid].path), sha256=sha, station_id="tram-01")
        assert not run_checks(stored[contents.objid].path, trust_roots=[], only=["csip"]).ok

    assert _migrate(tmp_path / "server", "--dry-run")["migrated"] and all(
        len(store.versions(o)) == 1 for o in stored)  # a dry run stores nothing

    report = _migrate(tmp_path / "server")
    assert sorted(m["objid"] for m in report["migrated"]) == sorted(stored) and report["failed"] == []
    migrated = []
    for objid, old in stored.items():
        v1, v2 = store.versions(objid)
        assert (v1.version, v2.version) == (1, 2)
        assert sha256_file(v1.path) == old.sha256  # the old version is kept, unchanged
        assert run_checks(v2.path, trust_roots=[], only=STRUCTURAL).ok
        before, after = _members(v1.path), _members(v2.path)
        assert set(after) == set(before)
        assert {n for n in after if after[n] != before[n]} <= REWRITTEN
        assert all(after[n] == before[n] for n in after if n.endswith(".pdf"))  # signed bytes untouched
        contents = read_package(v2.path)
        assert contents.objid == objid and contents.created == read_package(v1.path).created
        if contents.kind == "AIP":
            [event] = [e for e in contents.events if e["type"] == "metadata modification"]
            assert old.sha256 in event["extra"]["previous"]
        row = catalog.package(objid)
        assert row["stored_path"] == str(v2.path) and row["station_id"] == "tram-01"
        migrated.append(v2.path)

    # The migrated versions pass the official validator too (the "second version" of each package).
    report = validate(*migrated)
    for path in migrated:
        assert unexplained(path, report["packages"][str(path)]) == []

    again = _migrate(tmp_path / "server")
    assert again["migrated"] == [] and sorted(again["conformant"]) == sorted(stored)
    assert store.fixity().ok


def test_a_rewritten_package_keeps_its_text_layers_listed(tmp_path):
    """migrate_package (the migration, and the archive filing its acceptance record) rewrites rep1's METS:
    the text layers stay byte for byte, listed in Data/Text and linked to their documents."""
    from protocol.package.migrate import migrate_package
    from protocol.package.sample import build_sample

    built = build_sample(tmp_path / "v1", kind="AIP", page_counts=(2, 1, 3))
    before = read_package(built.path)
    assert all(d.text_member for d in before.documents)
    after_path = migrate_package(built.path, tmp_path / "v2", documentation={"BIEN_BAN.pdf": b"%PDF-1.7 x"}).path
    after = read_package(after_path)
    assert [d.text_member for d in after.documents] == [d.text_member for d in before.documents]
    listed = {e.path: (e.size, e.sha256) for e in after.files if e.use == "Data/Text"}
    assert listed == {e.path: (e.size, e.sha256) for e in before.files if e.use == "Data/Text"}
    old, new = _members(built.path), _members(after_path)
    assert all(new[d.text_member] == old[d.text_member] for d in after.documents)
    assert [new[d.text_member].count(b"\f") for d in after.documents] == [2, 1, 3]
    assert run_checks(after_path, trust_roots=[], only=STRUCTURAL).ok
