"""The package store: accepted packages written atomically, a second copy on independent media, fixity.

Layout under `root` (and the same under `backup_root`):
    objects/<folder>/v0001-<SHA256>.zip   one file per version, the hash in its name
    ledger.jsonl                          one line per stored version (appended, fsynced)
    tmp/                                  temp files, same file system as objects/ (rename is atomic)
A version becomes visible only by rename after its hash was verified and its bytes fsynced, so a crash
never leaves a partial package visible. Replacing a hồ sơ adds a version; old versions are kept.
The filesystem is the default backend; an object store would implement the same four methods.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import re
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from protocol.clock import iso_vn
from protocol.durable import fsync_dir
from protocol.hashing import copy_hashing as _copy_hashing
from protocol.hashing import sha256_file as _hash
from protocol.package.model import folder_name

log = logging.getLogger(__name__)
VERSION_RE = re.compile(r"^v(?P<n>\d{4,})-(?P<sha>[0-9A-F]{64})\.zip$")
SAFE_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class StorageError(Exception):
    """A package could not be stored. `message_vi` is what an operator sees."""

    def __init__(self, message: str, message_vi: str = ""):
        super().__init__(message)
        self.message_vi = message_vi or message


@dataclass(frozen=True)
class StoredPackage:
    path: Path
    sha256: str
    size: int
    version: int = 1
    backup_path: Path | None = None


@dataclass
class FixityReport:
    checked: int = 0
    intact: int = 0  # files whose hash still matches
    changed: list[dict] = field(default_factory=list)  # {"path", "expected", "actual"}
    missing: list[dict] = field(default_factory=list)  # {"path", "objid", "version"}
    unrecorded: list[str] = field(default_factory=list)  # in the store but not in the ledger
    at: str = ""

    @property
    def clean(self) -> bool:
        return not (self.changed or self.missing)

    @property
    def ok(self) -> bool:
        return self.clean

    def to_dict(self) -> dict:
        return dict(asdict(self), clean=self.clean, ok=self.clean)


class _Tree:
    """One copy (primary or backup) of the store on one file system."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        self.ledger = self.root / "ledger.jsonl"
        for d in (self.objects, self.tmp):
            d.mkdir(parents=True, exist_ok=True)

    def folder(self, objid: str) -> Path:
        name = folder_name(objid)
        if not SAFE_RE.match(name) or name in (".", ".."):
            raise StorageError(f"unsafe OBJID for storage: {objid!r}", "Mã gói không hợp lệ để lưu trữ")
        return self.objects / name

    def versions(self, objid: str) -> list[tuple[int, str, Path]]:
        folder = self.folder(objid)
        out = []
        if folder.is_dir():
            for p in folder.iterdir():
                if m := VERSION_RE.match(p.name):
                    out.append((int(m["n"]), m["sha"], p))
        return sorted(out)

    def write(self, src: Path, objid: str, sha256: str, version: int) -> tuple[Path, int]:
        """temp in the same file system -> verify hash -> fsync -> rename -> fsync dir."""
        tmp = self.tmp / f"{uuid.uuid4().hex}.part"
        try:
            digest, size = _copy_hashing(src, tmp)
            if digest != sha256:
                raise StorageError(
                    f"hash mismatch while storing {objid}: got {digest}, expected {sha256}",
                    "Mã băm của gói không khớp khi lưu trữ",
                )
            folder = self.folder(objid)
            folder.mkdir(parents=True, exist_ok=True)
            fsync_dir(self.objects)
            final = folder / f"v{version:04d}-{sha256}.zip"
            os.replace(tmp, final)
            fsync_dir(folder)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return final, size

    def record(self, entry: dict) -> None:
        with open(self.ledger, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def entries(self) -> list[dict]:
        if not self.ledger.exists():
            return []
        out = []
        for line in self.ledger.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line after a crash: the file itself is still found by listing
        return out

    def all_files(self) -> list[Path]:
        return sorted(p for p in self.objects.glob("*/*.zip") if VERSION_RE.match(p.name))

    def clean_tmp(self) -> None:
        for p in self.tmp.glob("*.part"):
            p.unlink(missing_ok=True)


class PackageStore:
    """Filesystem package store with a backup copy (on other media in production) and fixity audits."""

    def __init__(self, root: Path, *, backup_root: Path | None = None):
        self.primary = _Tree(root)
        self.backup = _Tree(backup_root) if backup_root else None
        # Leftovers of a crash are never visible and never reused. Under the lock: another server process
        # sharing this store may be writing its temp file right now (put holds the lock while it writes).
        with self._lock():
            self.primary.clean_tmp()
            if self.backup:
                self.backup.clean_tmp()

    @contextmanager
    def _lock(self):
        with open(self.primary.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def put(self, zip_path: Path, *, objid: str, sha256: str) -> StoredPackage:
        """Store a verified package. Idempotent: the same bytes again return the stored version.

        The backup copy is written first, so a package is never visible in the primary store without
        its second copy.
        """
        sha256 = sha256.upper()
        with self._lock():
            versions = self.primary.versions(objid)
            for n, sha, path in versions:
                if sha == sha256:
                    return StoredPackage(path, sha, path.stat().st_size, n, self._backup_path(objid, n, sha))
            version = (versions[-1][0] + 1) if versions else 1
            backup_path = None
            if self.backup:
                backup_path, _ = self.backup.write(Path(zip_path), objid, sha256, version)
            path, size = self.primary.write(Path(zip_path), objid, sha256, version)
            entry = {
                "objid": objid,
                "version": version,
                "sha256": sha256,
                "size": size,
                "path": str(path.relative_to(self.primary.root)),
                "at": iso_vn(),
            }
            self.primary.record(entry)
            if self.backup:
                self.backup.record(entry)
        log.info("stored %s version %d (%d bytes)", objid, version, size)
        return StoredPackage(path, sha256, size, version, backup_path)

    def _backup_path(self, objid: str, version: int, sha: str) -> Path | None:
        if not self.backup:
            return None
        path = self.backup.folder(objid) / f"v{version:04d}-{sha}.zip"
        return path if path.exists() else None

    def get(self, objid: str, version: int | None = None) -> StoredPackage | None:
        """The latest (or the given) version of a package, or None."""
        versions = self.primary.versions(objid)
        if version is not None:
            versions = [v for v in versions if v[0] == version]
        if not versions:
            return None
        n, sha, path = versions[-1]
        return StoredPackage(path, sha, path.stat().st_size, n, self._backup_path(objid, n, sha))

    def versions(self, objid: str) -> list[StoredPackage]:
        return [StoredPackage(p, sha, p.stat().st_size, n) for n, sha, p in self.primary.versions(objid)]

    def fixity(self, sample: int | None = None, *, seed: int | None = None) -> FixityReport:
        """Re-hash every stored file (or a random sample of `sample` ledger entries) in both copies."""
        report = FixityReport(at=iso_vn())
        entries = self.primary.entries()
        if sample is not None and sample < len(entries):
            entries = random.Random(seed).sample(entries, sample)
        trees = [self.primary] + ([self.backup] if self.backup else [])
        for tree in trees:
            for e in entries:
                path = tree.root / e["path"]
                report.checked += 1
                if not path.is_file():
                    report.missing.append({"path": str(path), "objid": e["objid"], "version": e["version"]})
                    continue
                actual = _hash(path)
                if actual != e["sha256"]:
                    report.changed.append({"path": str(path), "expected": e["sha256"], "actual": actual})
                else:
                    report.intact += 1
        if sample is None:
            known = {e["path"] for e in self.primary.entries()}
            report.unrecorded = [
                str(p) for p in self.primary.all_files() if str(p.relative_to(self.primary.root)) not in known
            ]
        log.info(
            "fixity: %d checked, %d changed, %d missing",
            report.checked,
            len(report.changed),
            len(report.missing),
        )
        return report
