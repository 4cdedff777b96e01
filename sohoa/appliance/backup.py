"""Server backup and restore: the package store, the catalog and the server database, consistent together.

Order matters, and no lock is needed: the databases are snapshotted first (SQLite online backup API),
then, under the store lock (no put in any process meanwhile), the store itself is walked: every package
version in objects/, the ledger (its unfinished last line, if a crash left one, is not copied) and the
public keys its lines are signed with. Ingest puts a package in the store *before* it writes the catalog
and the receipt, and stored files never change, so every package that the snapshotted databases mention
is already in the store walked after them. Uploads keep running during a backup.

A backup folder holds `manifest.json` (written last: a folder without it is incomplete) listing every file
with its SHA-256; the backup's own store passes the fixity audit before the manifest is written. Restore
refuses a backup whose files do not match it, restores into a temporary folder next to the target, audits
it there, and only then renames it into place (an empty target folder is replaced in one step).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.clock import iso_vn, now_vn
from protocol.durable import fsync_dir, write_atomic
from protocol.errors import ExitCode, UserError
from protocol.hashing import copy_hashing
from protocol.hashing import sha256_file as _hash
from protocol.i18n import N_

log = logging.getLogger("sohoa.backup")
FORMAT = "sohoa-server-backup/1"
MANIFEST = "manifest.json"
DATABASES = ("server.db", "catalog.db", "monitor.db")  # the names ServerConfig gives them under data_dir
KEY = "keys/receipt-ed25519.pem"


class BackupError(UserError):
    """A backup or restore could not be made or trusted. `.text(lang)` is what an operator sees."""

    exit_code = ExitCode.FAILED


@dataclass
class RestoreReport:
    data_dir: Path
    files: int = 0
    packages: int = 0
    catalog_paths_rewritten: int = 0
    fixity: dict[str, Any] = field(default_factory=dict)


def _hash_copy(src: Path, dest: Path) -> tuple[str, int]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    return copy_hashing(src, dest)


def _empty_target(path: Path) -> None:
    if path.exists() and any(path.iterdir()):
        raise BackupError(N_("%(path)s is not empty: refusing to write into it"), path=path)
    path.mkdir(parents=True, exist_ok=True)


def _snapshot_sqlite(src: Path, dest: Path) -> None:
    """Online backup: a consistent copy even while the server writes (WAL readers do not block it)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(dest)
    try:
        source.backup(target)
        # The copy keeps the source's WAL mode; fold it back into one self-contained file.
        target.execute("PRAGMA journal_mode=DELETE")
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        target.close()
        source.close()
    if check != "ok":
        raise BackupError(N_("The database snapshot %(name)s fails its integrity check: %(check)s"), name=src.name,
                          check=check)


def backup_server(config: Any, dest: Path, *, link_from: Path | None = None) -> dict[str, Any]:
    """Write a full backup of the server described by `config` (a ServerConfig) into the empty `dest`.

    `link_from`, an earlier backup, lets unchanged package files be hard-linked instead of copied (they
    are still re-hashed). Returns the manifest.
    """
    dest = Path(dest)
    _empty_target(dest)
    data = Path(config.data_dir)
    files: list[dict[str, Any]] = []

    def add(rel: str, kind: str, sha: str, size: int) -> None:
        files.append({"path": rel, "kind": kind, "sha256": sha, "size": size})

    for name in DATABASES:
        if (data / name).exists():
            _snapshot_sqlite(data / name, dest / "db" / name)
            add(f"db/{name}", "database", _hash(dest / "db" / name), (dest / "db" / name).stat().st_size)
    if (data / KEY).exists():
        sha, size = _hash_copy(data / KEY, dest / KEY)
        os.chmod(dest / KEY, 0o600)
        add(KEY, "key", sha, size)

    from server.store.fixity import audit
    from server.store.storage import VERSION_RE, PackageStore

    store = Path(config.store_dir)
    previous = _manifest_files(link_from) if link_from else {}
    live = PackageStore(store)
    with live.locked():
        versions = live.primary.all_files()
        for src in versions:
            rel = f"store/{src.relative_to(store)}"
            out = dest / rel
            named = VERSION_RE.match(src.name)
            assert named is not None  # all_files() lists only names of this form
            expected = named["sha"]
            if link_from is not None and previous.get(rel) == expected and (link_from / rel).is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                os.link(link_from / rel, out)
                sha, size = _hash(out), out.stat().st_size
            else:
                sha, size = _hash_copy(src, out)
            if sha != expected:
                raise BackupError(N_("stored package %(src)s does not match its hash: run `sohoa server fixity`"),
                                  src=src)
            add(rel, "package", sha, size)
        read = live.primary.ledger.read()
        raw = live.primary.ledger.path.read_bytes() if read.exists else b""
        ledger_bytes = raw[: len(raw) - len(read.torn_tail)]
        (dest / "store").mkdir(exist_ok=True)  # a new server has no package yet, and still a (empty) ledger
        write_atomic(dest / "store" / "ledger.jsonl", ledger_bytes)
        add("store/ledger.jsonl", "ledger", hashlib.sha256(ledger_bytes).hexdigest().upper(), len(ledger_bytes))
        for pem in sorted(live.primary.ledger.keys_dir.glob("*.pem")):
            sha, size = _hash_copy(pem, dest / "store" / "keys" / pem.name)
            add(f"store/keys/{pem.name}", "ledger-key", sha, size)
    entries = versions
    fixity = audit([PackageStore(dest / "store").primary])
    if not fixity.clean:
        raise BackupError(N_("the backup's store fails the fixity audit (%(findings)s finding(s)): %(report)s - "
                             "run `sohoa server fixity`"),
                          findings=fixity.findings(), report=json.dumps(fixity.to_dict(), ensure_ascii=False)[:2000])

    # Partial uploads let stations resume where they were; each is at least as long as its DB row says.
    uploads = Path(config.uploads_dir)
    for part in sorted(uploads.glob("*.part")) if uploads.is_dir() else []:
        sha, size = _hash_copy(part, dest / "uploads" / part.name)
        add(f"uploads/{part.name}", "upload", sha, size)

    from sohoa import __version__

    manifest = {"format": FORMAT, "created_at": iso_vn(), "source": str(data), "sohoa": __version__,
                "packages": len(entries), "files": files}
    for sub in {dest / Path(f["path"]).parent for f in files}:
        fsync_dir(sub)
    write_atomic(dest / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
    log.info("backup of %s in %s: %d packages, %d files", data, dest, len(entries), len(files))
    return manifest


def _manifest_files(backup: Path) -> dict[str, str]:
    try:
        manifest = json.loads((Path(backup) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {f["path"]: f["sha256"] for f in manifest.get("files", [])}


def read_manifest(backup: Path) -> dict[str, Any]:
    path = Path(backup) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(N_("%(backup)s has no %(manifest)s: not a backup, or an unfinished one"),
                          backup=backup, manifest=MANIFEST) from exc
    except ValueError as exc:
        raise BackupError(N_("%(path)s is not valid JSON"), path=path) from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(N_("%(backup)s: unknown backup format '%(value)s'"),
                          backup=backup, value=manifest.get('format'))
    return manifest


def verify_backup(backup: Path) -> list[str]:
    """Every file of the manifest, re-hashed; returns one line per problem (empty: the backup is sound)."""
    manifest = read_manifest(backup)
    problems = []
    for entry in manifest["files"]:
        path = Path(backup) / entry["path"]
        if ".." in Path(entry["path"]).parts or Path(entry["path"]).is_absolute():
            problems.append(f"{entry['path']}: path leaves the backup folder")
        elif not path.is_file():
            problems.append(f"{entry['path']}: missing")
        elif (actual := _hash(path)) != entry["sha256"]:
            problems.append(f"{entry['path']}: changed since the backup (SHA-256 {actual}, expected {entry['sha256']})")
    return problems


def restore_server(backup: Path, data_dir: Path) -> RestoreReport:
    """Restore `backup` into the empty (or new) `data_dir`, then audit it; raises BackupError on any doubt."""

    backup, data_dir = Path(backup), Path(data_dir)
    problems = verify_backup(backup)
    if problems:
        raise BackupError(N_("The backup %(backup)s is damaged or changed (%(count)s file(s)): %(problems)s"),
                          backup=backup, count=len(problems), problems="; ".join(problems))
    manifest = read_manifest(backup)
    if data_dir.exists() and any(data_dir.iterdir()):
        _empty_target(data_dir)  # raises: never restored over a server's data
    final = data_dir
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    data_dir = final.parent / f".{final.name}.restoring-{os.getpid()}"
    if data_dir.exists():
        shutil.rmtree(data_dir)  # an earlier restore that died half-way; never visible under the final name
    try:
        report = _restore_into(backup, manifest, data_dir, final)
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    if final.exists():
        final.rmdir()  # empty (checked above)
    os.rename(data_dir, final)  # the restored server appears whole, in one step
    fsync_dir(final.parent)
    report.data_dir = final
    log.info("restored %s into %s: %d files, %d packages, fixity clean", backup, final, report.files,
             report.packages)
    return report


def _restore_into(backup: Path, manifest: dict[str, Any], data_dir: Path, final: Path) -> RestoreReport:
    from server.config import ServerConfig
    from server.store.storage import PackageStore

    data_dir.mkdir(parents=True)
    target = ServerConfig(data_dir=data_dir)
    places = {"database": lambda rel: data_dir / Path(rel).name, "key": lambda rel: data_dir / rel,
              "package": lambda rel: target.store_dir / Path(rel).relative_to("store"),
              "ledger": lambda rel: target.store_dir / "ledger.jsonl",
              "ledger-key": lambda rel: target.store_dir / Path(rel).relative_to("store"),
              "upload": lambda rel: target.uploads_dir / Path(rel).name}
    report = RestoreReport(data_dir=data_dir)
    for entry in manifest["files"]:
        out = places[entry["kind"]](entry["path"])
        sha, _ = _hash_copy(backup / entry["path"], out)
        if sha != entry["sha256"]:
            raise BackupError(N_("%(path)s changed while it was restored"), path=entry['path'])
        if entry["kind"] == "key":
            os.chmod(out, 0o600)
            os.chmod(out.parent, 0o700)
        report.files += 1
    report.catalog_paths_rewritten = _rewrite_catalog_paths(target.catalog_path, Path(manifest["source"]), final)
    _check_catalog_paths(target.catalog_path, final, data_dir)
    fixity = PackageStore(target.store_dir).fixity()
    report.fixity = fixity.to_dict()
    report.packages = fixity.intact
    if not fixity.clean or fixity.checked != manifest["packages"]:
        raise BackupError(N_("fixity audit after restore failed: %(findings)s finding(s) (%(changed)s changed, "
                             "%(missing)s missing, %(unrecorded)s not in the ledger, %(ledger)s ledger problem(s)), "
                             "%(checked)s of %(packages)s checked"),
                          findings=fixity.findings(), changed=len(fixity.changed), missing=len(fixity.missing),
                          unrecorded=len(fixity.unrecorded), ledger=len(fixity.ledger), checked=fixity.checked,
                          packages=manifest["packages"])
    return report


def _rewrite_catalog_paths(catalog: Path, old: Path, new: Path) -> int:
    """The catalog keeps absolute package paths: point them at the restored store when the folder moved."""
    if not catalog.exists() or old == new:
        return 0
    with sqlite3.connect(catalog) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'packages'").fetchone():
            return 0
        prefix = str(old).rstrip("/") + "/"
        cur = conn.execute("UPDATE packages SET stored_path = ? || substr(stored_path, ?) WHERE stored_path LIKE ?",
                           (str(new).rstrip("/") + "/", len(prefix) + 1, prefix.replace("%", r"\%") + "%"))
        count = cur.rowcount
    conn.close()
    return count


def _check_catalog_paths(catalog: Path, final: Path, staging: Path) -> None:
    """Every catalogued package is in the restored store (paths already name `final`; checked in `staging`)."""
    if not catalog.exists():
        return
    conn = sqlite3.connect(catalog)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'packages'").fetchone():
            return
        prefix = str(final).rstrip("/") + "/"
        missing = [row[0] for row in conn.execute("SELECT stored_path FROM packages")
                   if row[0] and not Path(str(staging) + "/" + row[0][len(prefix):] if row[0].startswith(prefix)
                                          else row[0]).is_file()]
    finally:
        conn.close()
    if missing:
        raise BackupError(N_("the restored catalog names %(count)s package(s) not in the store: %(missing)s"),
                          count=len(missing), missing=missing[:3])


def list_backups(folder: Path) -> list[dict[str, Any]]:
    """Complete backups under `folder` (those with a manifest), oldest first."""
    out = []
    for sub in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []:
        try:
            manifest = read_manifest(sub)
        except BackupError:
            continue
        out.append({"path": str(sub), "created_at": manifest["created_at"], "packages": manifest["packages"]})
    return sorted(out, key=lambda b: b["created_at"])


def new_backup_dir(folder: Path) -> Path:
    return Path(folder) / f"sohoa-backup-{now_vn():%Y%m%dT%H%M%S}"


def prune_backups(folder: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` complete backups; returns the deleted folders."""
    found = list_backups(folder)
    doomed = [b["path"] for b in found[:-keep]] if keep > 0 else []
    for path in doomed:
        shutil.rmtree(path)
    return doomed
