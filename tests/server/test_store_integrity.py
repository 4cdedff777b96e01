"""Fixity that trusts nothing, and the start-up reconciliation of store and ledger.

Each test damages a real store the way a crash or an intruder would (a ledger line flipped, removed or
torn, the ledger deleted, a file the ledger does not name, a package whose METS no longer matches) and
asserts the audit reports it as a finding, or that start-up repairs what a crash can leave."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.hashing import sha256_file
from server.faults import ENV
from server.store.recover import reconcile_store
from server.store.storage import PackageStore


@pytest.fixture
def filled(tmp_path, make_package):
    """A signed store holding three real packages."""
    key = Ed25519PrivateKey.generate()
    store = PackageStore(tmp_path / "store", signing_key=key)
    stored = []
    for n in range(3):
        pkg = make_package(notation=f"{170 + n}.VP")
        stored.append((pkg, store.put(pkg.path, objid=pkg.objid, sha256=pkg.sha256, station_id="tram-01")))
    assert store.fixity().clean
    return store, stored, key


def _lines(store: PackageStore) -> list[str]:
    return store.primary.ledger.path.read_text(encoding="utf-8").splitlines()


def _write_lines(store: PackageStore, lines: list[str]) -> None:
    store.primary.ledger.path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_ledger_lines_are_chained_and_signed(filled):
    store, _, _ = filled
    entries = [json.loads(line) for line in _lines(store)]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev"] == "0" * 64 and entries[1]["prev"] != entries[2]["prev"]
    assert all(len(e["sig"]) == 128 and (store.primary.root / "keys" / f"{e['key']}.pem").exists() for e in entries)


def test_flipped_bit_in_a_ledger_line_is_a_finding(filled):
    store, stored, _ = filled
    lines = _lines(store)
    raw = bytearray(lines[1].encode())
    at = raw.index(b'"size": ') + 9
    raw[at] ^= 0x01  # one digit of the size changes: still valid JSON, still names the package
    lines[1] = raw.decode()
    _write_lines(store, lines)
    report = store.fixity()
    assert not report.clean
    assert any("line 2" in p and "signature" in p for p in report.ledger), report.ledger
    assert report.unrecorded == [str(stored[1][1].path)], "the package of the damaged line is named by nothing valid"


def test_removed_ledger_line_breaks_the_chain(filled):
    store, stored, _ = filled
    lines = _lines(store)
    del lines[1]
    _write_lines(store, lines)
    report = store.fixity()
    assert any("does not chain" in p for p in report.ledger), report.ledger
    assert report.unrecorded == [str(stored[1][1].path)]


def test_deleted_ledger_is_a_finding_not_checked_zero(filled):
    store, stored, _ = filled
    store.primary.ledger.path.unlink()
    report = store.fixity()
    assert not report.clean and report.checked == 3, "the store itself is walked, not the ledger"
    assert any("missing" in p for p in report.ledger)
    assert sorted(report.unrecorded) == sorted(str(s.path) for _, s in stored)


def test_file_the_ledger_does_not_name_is_found_even_when_sampling(filled, make_package):
    store, _, _ = filled
    pkg = make_package(notation="199.VP")
    stray = store.primary.objects / "urn_x_uuid-stray" / f"v0001-{pkg.sha256}.zip"
    stray.parent.mkdir()
    shutil.copy(pkg.path, stray)
    (store.primary.objects / "urn_x_uuid-stray" / "notes.txt").write_text("not a package")
    for report in (store.fixity(), store.fixity(sample=1, seed=1)):
        assert report.unrecorded == [str(stray)] and not report.clean
        assert report.unexpected == [str(store.primary.objects / "urn_x_uuid-stray" / "notes.txt")]


def test_ledger_line_whose_package_is_gone(filled):
    store, stored, _ = filled
    stored[0][1].path.unlink()
    report = store.fixity()
    assert [m["path"] for m in report.missing] == [str(stored[0][1].path)] and not report.clean


@pytest.mark.parametrize(("suffix", "change"), [(".pdf", (b"%%EOF", b"%%EOX")), (".txt", (b"\f", b" \f"))])
def test_package_that_no_longer_matches_its_own_mets(tmp_path, make_package, suffix, change):
    """Name, ledger and bytes agree, but a member (a PDF, a text layer) differs from the CHECKSUM its METS
    gives: a finding."""
    pkg = make_package()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(pkg.path) as src, zipfile.ZipFile(bad, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(suffix):
                data = data.replace(*change, 1)
            out.writestr(info, data)
    store = PackageStore(tmp_path / "store")
    stored = store.put(bad, objid=pkg.objid, sha256=sha256_file(bad))
    report = store.fixity()
    assert [m["path"] for m in report.manifest] == [str(stored.path)]
    assert any(f"{suffix}: SHA-256" in p for p in report.manifest[0]["problems"]), report.manifest


def _store_crashing_after_rename(tmp_path: Path, pkg) -> int:
    """A real process storing `pkg`, SIGKILLed at the named point between the rename and the ledger write."""
    script = textwrap.dedent(f"""
        from pathlib import Path
        from server.store.storage import PackageStore
        PackageStore(Path({str(tmp_path / 'store')!r}), backup_root=Path({str(tmp_path / 'backup')!r})).put(
            Path({str(pkg.path)!r}), objid={pkg.objid!r}, sha256={pkg.sha256!r})
    """)
    return subprocess.run([sys.executable, "-c", script], env={**os.environ, ENV: "after-rename"},
                          timeout=60).returncode


def test_crash_between_rename_and_ledger_is_recorded_at_start(tmp_path, make_package):
    pkg = make_package()
    assert _store_crashing_after_rename(tmp_path, pkg) == -9
    store = PackageStore(tmp_path / "store", backup_root=tmp_path / "backup")
    before = store.fixity()
    assert [Path(p).name for p in before.unrecorded] == [f"v0001-{pkg.sha256}.zip"] * 2, "stored and forgotten"
    assert not before.clean
    report = reconcile_store(store, station_of=lambda sha: "tram-07")
    assert len(report.recorded) == 2 and not report.quarantined
    after = store.fixity()
    assert after.clean, after
    [entry] = store.primary.entries()
    assert entry["objid"] == pkg.objid and entry["station_id"] == "tram-07"
    assert entry["event"]["eventType"] == "ingestion" and "without a ledger line" in entry["event"]["eventDetail"]
    assert not reconcile_store(store).changed, "a second start finds nothing to do"


def test_resending_after_that_crash_records_it_once(tmp_path, make_package):
    pkg = make_package()
    assert _store_crashing_after_rename(tmp_path, pkg) == -9
    store = PackageStore(tmp_path / "store", backup_root=tmp_path / "backup")
    again = store.put(pkg.path, objid=pkg.objid, sha256=pkg.sha256)  # the station sends it again
    assert again.version == 1
    assert store.fixity().clean and len(store.primary.entries()) == 1 and len(store.backup.entries()) == 1


def test_torn_last_line_is_moved_aside_and_the_chain_goes_on(filled, make_package):
    store, _, key = filled
    with open(store.primary.ledger.path, "a", encoding="utf-8") as handle:
        handle.write('{"objid": "urn:half-writ')
    assert any("unfinished last line" in p for p in store.fixity().ledger)
    report = reconcile_store(store)
    assert report.torn == [str(store.primary.ledger.path)]
    assert list(store.primary.root.glob("ledger.jsonl.torn-*"))
    pkg = make_package(notation="180.VP")
    store.put(pkg.path, objid=pkg.objid, sha256=pkg.sha256)
    assert store.fixity().clean and len(store.primary.entries()) == 4


def test_damaged_unrecorded_file_goes_to_quarantine(tmp_path, make_package):
    pkg = make_package()
    store = PackageStore(tmp_path / "store")
    folder = store.primary.objects / "urn_x_uuid-damaged"
    folder.mkdir()
    damaged = folder / f"v0001-{pkg.sha256}.zip"
    damaged.write_bytes(pkg.path.read_bytes()[:-10])
    report = reconcile_store(store)
    assert [q["path"] for q in report.quarantined] == [str(damaged)] and not damaged.exists()
    assert Path(report.quarantined[0]["moved_to"]).is_file()
    assert store.fixity().clean and store.primary.entries() == []


def test_legacy_unchained_ledger_is_chained_at_start(filled):
    store, stored, _ = filled
    legacy = []
    for line in _lines(store):
        entry = json.loads(line)
        legacy.append(json.dumps({k: v for k, v in entry.items() if k not in ("seq", "prev", "sig", "key")}))
    _write_lines(store, legacy)
    assert store.primary.ledger.read().legacy == 3
    assert reconcile_store(store).chained == 3
    assert store.fixity().clean and len(store.primary.entries()) == 3
    assert store.primary.root.joinpath("ledger.jsonl.pre-chain").exists()


def test_fixity_command_exits_non_zero_with_a_report(filled, tmp_path):
    store, _, _ = filled
    data = tmp_path  # the store lives at tmp_path/store, as `--data` expects
    run = [sys.executable, "-m", "sohoa.cli", "server", "--data", str(data), "fixity"]
    clean = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr
    store.primary.ledger.path.unlink()
    found = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert found.returncode == 1, found.stderr
    body = json.loads(found.stdout)
    assert body["findings"] == 4 and body["clean"] is False
    assert list((tmp_path / "store" / "reports").glob("fixity-*.json"))
