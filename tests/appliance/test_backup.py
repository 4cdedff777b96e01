"""Server backup and restore with real ingested packages: restore into an empty folder passes the fixity
audit; a package changed after the backup is detected; a damaged backup is refused."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from server.store.storage import PackageStore
from sohoa.appliance.backup import (
    BackupError,
    backup_server,
    list_backups,
    prune_backups,
    restore_server,
    verify_backup,
)
from station.sync.client import SyncClient


@pytest.fixture
def loaded_server(archive_server, make_package):
    """The real server with two accepted packages (sent over HTTP by the real sync client)."""
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    client = SyncClient(live.url, station_id="tram-01", token=creds["token"])
    for notation in ("160.VP", "161.VP"):
        pkg = make_package(notation=notation)
        receipt = client.send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})
        assert receipt.verdict == "accepted", receipt.reasons
    return live, ctx


def test_backup_restore_into_empty_folder_passes_fixity(loaded_server, tmp_path: Path) -> None:
    live, ctx = loaded_server
    manifest = backup_server(ctx.config, tmp_path / "b1")
    assert manifest["packages"] == 2
    kinds = sorted(f["kind"] for f in manifest["files"])
    assert kinds.count("package") == 2 and kinds.count("database") >= 2 and "key" in kinds and "ledger" in kinds
    assert oct((tmp_path / "b1/keys/receipt-ed25519.pem").stat().st_mode & 0o777) == "0o600"
    assert verify_backup(tmp_path / "b1") == []

    report = restore_server(tmp_path / "b1", tmp_path / "restored")
    assert report.packages == 2 and report.fixity["clean"] and report.catalog_paths_rewritten == 2
    # The restored server is whole: its own fixity audit, catalog search, station account, receipt key.
    assert PackageStore(tmp_path / "restored/store").fixity().clean
    from server.catalogue.catalog import Catalog
    from server.records.db import ServerDB

    assert len(Catalog(tmp_path / "restored/catalog.db").search("dong nai")) >= 1
    assert [s["id"] for s in ServerDB(tmp_path / "restored/server.db").stations()] == ["tram-01"]
    assert (tmp_path / "restored/keys/receipt-ed25519.pem").read_bytes() == ctx.config.key_path.read_bytes()
    for row in Catalog(tmp_path / "restored/catalog.db").packages():
        assert row["stored_path"].startswith(str(tmp_path / "restored/store/"))


def test_package_changed_after_backup_is_detected(loaded_server, tmp_path: Path) -> None:
    _, ctx = loaded_server
    backup_server(ctx.config, tmp_path / "b")
    victim = next((tmp_path / "b/store/objects").glob("*/*.zip"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    problems = verify_backup(tmp_path / "b")
    assert len(problems) == 1 and victim.name in problems[0] and "changed since the backup" in problems[0]
    with pytest.raises(BackupError, match="damaged"):
        restore_server(tmp_path / "b", tmp_path / "r")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir()), "nothing restored"


def test_restored_store_audit_catches_a_later_change(loaded_server, tmp_path: Path) -> None:
    _, ctx = loaded_server
    backup_server(ctx.config, tmp_path / "b")
    restore_server(tmp_path / "b", tmp_path / "r")
    stored = next((tmp_path / "r/store/objects").glob("*/*.zip"))
    with open(stored, "r+b") as handle:
        handle.seek(100)
        handle.write(b"X")
    report = PackageStore(tmp_path / "r/store").fixity()
    assert not report.clean and [c["path"] for c in report.changed] == [str(stored)]


def test_live_store_damage_stops_the_backup(loaded_server, tmp_path: Path) -> None:
    _, ctx = loaded_server
    stored = next(ctx.config.store_dir.glob("objects/*/*.zip"))
    stored.write_bytes(stored.read_bytes()[:-1])
    with pytest.raises(BackupError, match="does not match its hash"):
        backup_server(ctx.config, tmp_path / "b")


def test_restore_refuses_a_folder_that_is_not_empty(loaded_server, tmp_path: Path) -> None:
    _, ctx = loaded_server
    backup_server(ctx.config, tmp_path / "b")
    (tmp_path / "r").mkdir()
    (tmp_path / "r/server.db").write_text("someone's data")
    with pytest.raises(BackupError, match="not empty"):
        restore_server(tmp_path / "b", tmp_path / "r")
    assert (tmp_path / "r/server.db").read_text() == "someone's data"


def test_unfinished_backup_is_not_a_backup(loaded_server, tmp_path: Path) -> None:
    _, ctx = loaded_server
    backup_server(ctx.config, tmp_path / "all/one")
    assert [b["path"] for b in list_backups(tmp_path / "all")] == [str(tmp_path / "all/one")]  # finished: listed
    (tmp_path / "all/one/manifest.json").unlink()  # as if the backup died before its last step
    assert list_backups(tmp_path / "all") == []
    with pytest.raises(BackupError, match="no manifest.json"):
        restore_server(tmp_path / "all/one", tmp_path / "r")


def test_database_snapshot_is_consistent_and_self_contained(loaded_server, tmp_path: Path) -> None:
    _, ctx = loaded_server
    backup_server(ctx.config, tmp_path / "b")
    for name in ("server.db", "catalog.db"):
        assert not (tmp_path / "b/db" / f"{name}-wal").exists()
        conn = sqlite3.connect(tmp_path / "b/db" / name)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        conn.close()
    conn = sqlite3.connect(tmp_path / "b/db/server.db")
    assert conn.execute("SELECT COUNT(*) FROM uploads WHERE state = 'accepted'").fetchone()[0] == 2


def test_cli_backup_links_unchanged_packages_prunes_and_restores(loaded_server, tmp_path: Path) -> None:
    _, ctx = loaded_server
    config = tmp_path / "server.toml"
    config.write_text(f'data_dir = "{ctx.config.data_dir}"\n', encoding="utf-8")

    def sohoa(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sohoa.cli", *args], capture_output=True, text=True,
                              timeout=120)

    for _ in range(3):
        out = sohoa("server-backup", "--config", str(config), "--to", str(tmp_path / "backups"), "--keep", "2")
        assert out.returncode == 0, out.stderr
        assert "2 package version(s)" in out.stdout
        import time

        time.sleep(1.1)  # backup folders are named by the second
    found = list_backups(tmp_path / "backups")
    assert len(found) == 2, "pruned to the newest two"
    newest = Path(found[-1]["path"])
    package = next(newest.glob("store/objects/*/*.zip"))
    assert os.stat(package).st_nlink == 2, "an unchanged package is hard-linked from the previous backup"
    assert sohoa("server-backup", "--verify", str(newest)).returncode == 0
    out = sohoa("server-restore", str(newest), "--data", str(tmp_path / "restored"))
    assert out.returncode == 0 and "fixity audit clean" in out.stdout, out.stderr
    out = sohoa("server-restore", str(newest), "--data", str(tmp_path / "restored"))
    assert out.returncode == 1 and "not empty" in out.stderr
    assert prune_backups(tmp_path / "backups", 1) == [found[0]["path"]]


def test_backup_covers_what_the_ledger_forgot_and_refuses_it_until_recorded(loaded_server, tmp_path: Path,
                                                                            make_package) -> None:
    """A version in the store the ledger does not name (a crash between rename and ledger write) is copied,
    and the backup's own fixity audit stops it with a finding instead of saying '0 packages'; once the
    server's start-up reconciliation recorded it, the backup holds all three and restores them."""
    from server.store.recover import reconcile_store

    _, ctx = loaded_server
    pkg = make_package(notation="162.VP")
    forgotten = ctx.config.store_dir / "objects" / "urn_forgotten" / f"v0001-{pkg.sha256}.zip"
    forgotten.parent.mkdir()
    forgotten.write_bytes(pkg.path.read_bytes())
    with pytest.raises(BackupError, match="fixity audit"):
        backup_server(ctx.config, tmp_path / "b1")
    assert not (tmp_path / "b1" / "manifest.json").exists()
    reconcile_store(ctx.store)
    manifest = backup_server(ctx.config, tmp_path / "b2")
    assert manifest["packages"] == 3 and (tmp_path / "b2" / "manifest.json").exists()  # the probe sees a finished one
    assert any(f["kind"] == "ledger-key" for f in manifest["files"]), "the ledger's signing keys are kept"
    report = restore_server(tmp_path / "b2", tmp_path / "restored")
    assert report.packages == 3 and report.data_dir == tmp_path / "restored"
    assert not list(tmp_path.glob(".restored.restoring-*")), "the staging folder was switched into place"
    assert PackageStore(tmp_path / "restored" / "store").fixity().clean
