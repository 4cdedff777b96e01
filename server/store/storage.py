"""The package store: accepted packages written atomically, a second copy on independent media, fixity.

Layout under `root` (and the same under `backup_root`):
    objects/<folder>/v0001-<SHA256>.zip   one file per version, the hash in its name
    ledger.jsonl                          one line per stored version (appended, fsynced, chained, signed)
    keys/<fingerprint>.pem                public keys the ledger lines are signed with
    quarantine/                           files found damaged at start-up, moved out of objects/
    tmp/                                  temp files, same file system as objects/ (rename is atomic)
    uploads/<upload id>.part              (backup only) an upload's backup copy, written as its chunks arrive
A version becomes visible only by rename after its hash was verified and its bytes fsynced, so a crash
never leaves a partial package visible. Ingest starts the copies while the package's checks run (`stage`),
and hands over its upload file: the primary copy is a hard link to it (its bytes were fsynced as they
arrived; server.ingest.uploads never writes a linked file again). The backup copy is the upload's backup
part (each chunk is written there first, then to the upload file), hashed again and renamed into place;
when there is none of the upload's size (swept at a restart, dropped on a rewrite) it is copied and hashed
from the upload file, as before the parts existed.
Replacing a hồ sơ adds a version; old versions are kept.
The filesystem is the default backend; an object store would implement the same four methods.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.clock import iso_vn
from protocol.durable import fsync_dir
from protocol.errors import say
from protocol.hashing import copy_hashing, hash_unbuffered
from protocol.i18n import N_
from protocol.package.model import folder_name
from server.faults import crash_point
from server.store import VERSION_RE
from server.store.fixity import FixityReport, audit
from server.store.ledger import Ledger

__all__ = ["FixityReport", "PackageStore", "Staging", "StorageError", "StoredPackage", "VERSION_RE"]

log = logging.getLogger(__name__)
SAFE_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class StorageError(Exception):
    """A package could not be stored: about the machine, not the request, so outside the UserError tree; its
    words still go by key (`said`) for whoever is shown them."""

    def __init__(self, message: str, **params: Any) -> None:
        self.said = say(message, **params)
        super().__init__(self.said.message)


@dataclass(frozen=True)
class StoredPackage:
    path: Path
    sha256: str
    size: int
    version: int = 1
    backup_path: Path | None = None


class _Tree:
    """One copy (primary or backup) of the store on one file system."""

    def __init__(self, root: Path, signing_key: Any = None):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        self.ledger = Ledger(self.root / "ledger.jsonl", signing_key=signing_key)
        for d in (self.objects, self.tmp):
            d.mkdir(parents=True, exist_ok=True)

    def folder(self, objid: str) -> Path:
        name = folder_name(objid)
        if not SAFE_RE.match(name) or name in (".", ".."):
            raise StorageError(N_("unsafe OBJID for storage: '%(objid)s'"), objid=objid)
        return self.objects / name

    def versions(self, objid: str) -> list[tuple[int, str, Path]]:
        folder = self.folder(objid)
        out = []
        if folder.is_dir():
            for p in folder.iterdir():
                if m := VERSION_RE.match(p.name):
                    out.append((int(m["n"]), m["sha"], p))
        return sorted(out)

    def temp(self) -> tuple[Path, Any]:
        """A new temp file and an open handle holding a lock on it: clean_tmp (any process's) leaves a
        locked temp alone, so a copy may be written outside the store lock."""
        path = self.tmp / f"{uuid.uuid4().hex}.part"
        handle = open(path, "ab")
        fcntl.flock(handle, fcntl.LOCK_EX)
        return path, handle

    def publish(self, tmp: Path, objid: str, sha256: str, version: int) -> Path:
        """A verified, fsynced temp file becomes the version: rename -> fsync dir."""
        folder = self.folder(objid)
        folder.mkdir(parents=True, exist_ok=True)
        fsync_dir(self.objects)
        final = folder / f"v{version:04d}-{sha256}.zip"
        os.replace(tmp, final)
        fsync_dir(folder)
        return final

    def entries(self) -> list[dict]:
        """The ledger's valid entries (fixity reports the lines that are not)."""
        return self.ledger.read().entries

    def all_files(self) -> list[Path]:
        return sorted(p for p in self.objects.glob("*/*.zip") if VERSION_RE.match(p.name))

    def stray_files(self) -> list[Path]:
        """Anything in objects/ that is not a package version (nothing else is ever put there)."""
        return sorted(p for p in self.objects.rglob("*")
                      if not p.is_dir() and not (p.parent.parent == self.objects and VERSION_RE.match(p.name)))

    def clean_tmp(self) -> None:
        """Remove temp files a crash left; one still locked is being written by a live process."""
        for p in self.tmp.glob("*.part"):
            try:
                with open(p, "ab") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    p.unlink(missing_ok=True)
            except BlockingIOError:
                continue
            except FileNotFoundError:
                continue


def _verified(objid: str, digest: str, sha256: str) -> None:
    """Raise StorageError unless the bytes written hash to what the package was accepted with."""
    if digest != sha256:
        raise StorageError(N_("hash mismatch while storing %(objid)s: got %(digest)s, expected %(sha256)s"),
                           objid=objid, digest=digest, sha256=sha256)


class PackageStore:
    """Filesystem package store with a backup copy (on other media in production) and fixity audits."""

    def __init__(self, root: Path, *, backup_root: Path | None = None, signing_key: Any = None):
        self.primary = _Tree(root, signing_key)
        self.backup = _Tree(backup_root, signing_key) if backup_root else None
        if self.backup:
            self.backup_uploads.mkdir(exist_ok=True)
        # Leftovers of a crash are never visible and never reused. Under the lock: another server process
        # sharing this store may be writing its temp file right now (put holds the lock while it writes).
        with self._lock():
            self.primary.clean_tmp()
            if self.backup:
                self.backup.clean_tmp()

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.primary.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def backup_uploads(self) -> Path:
        """The backup parts of uploads arriving: on the backup media beside objects/ (a rename publishes one),
        outside tmp/ (emptied at every start, by any server sharing the store) since an upload outlives a
        restart and its chunks may reach several servers. Swept with the upload parts (server.ingest.api)."""
        assert self.backup is not None
        return self.backup.root / "uploads"

    def upload_part(self, upload_id: str) -> Path | None:
        """Where the backup copy of an upload is written chunk by chunk (server.ingest.uploads.write_chunk);
        None without a backup."""
        if self.backup is None:
            return None
        if not upload_id.isalnum():  # ids are uuid4 hex; anything else never reaches the filesystem
            raise ValueError("bad upload id")
        return self.backup_uploads / f"{upload_id}.part"

    def drop_upload_part(self, upload_id: str) -> None:
        """Remove an upload's backup part (refused, expired, thrown away, or finished without being stored)."""
        part = self.upload_part(upload_id)
        if part is not None:
            part.unlink(missing_ok=True)

    def stage(self, src: Path, sha256: str, *, link: bool = False, upload_id: str = "") -> Staging:
        """Start writing the copies of `src` now, in a thread (hashlib and file I/O leave the GIL), so they
        are on disk when its checks end; `put` waits for them and publishes them, `Staging.discard` drops
        them. `link`: the caller hands `src` over (see `put`). `upload_id`: `src` is that upload's file and
        its backup part, if complete, becomes the backup copy."""
        part = self.upload_part(upload_id) if upload_id else None
        return Staging(self, Path(src), sha256.upper(), link=link, part=part)

    def put(self, zip_path: Path, *, objid: str, sha256: str, station_id: str = "",
            staging: Staging | None = None) -> StoredPackage:
        """Store a verified package. Idempotent: the same bytes again return the stored version.

        The backup copy is written first, so a package is never visible in the primary store without
        its second copy. `staging`: the copies started by `stage(zip_path, sha256)` (else made here).
        """
        sha256 = sha256.upper()
        staging = staging or self.stage(zip_path, sha256)
        try:
            with self._lock():
                versions = self.primary.versions(objid)
                for n, sha, path in versions:
                    if sha == sha256:  # stored before; a crash may have come before its ledger line
                        self._ensure_recorded(objid, n, sha, path)
                        return StoredPackage(path, sha, path.stat().st_size, n, self._backup_path(objid, n, sha))
                version = (versions[-1][0] + 1) if versions else 1
                backup_path, path, size = self._write(staging, objid, sha256, version)
                crash_point("after-rename")  # stored, not in the ledger yet: repaired at start (server.store.recover)
                entry = {
                    "objid": objid,
                    "version": version,
                    "sha256": sha256,
                    "size": size,
                    "path": str(path.relative_to(self.primary.root)),
                    "at": iso_vn(),
                    "station_id": station_id,
                }
                self.primary.ledger.append(entry)
                if self.backup:
                    self.backup.ledger.append(entry)
        finally:
            staging.discard()  # whatever was not published (a stored version, an error) is removed
        log.info("stored %s version %d (%d bytes)", objid, version, size)
        return StoredPackage(path, sha256, size, version, backup_path)

    def _write(self, staging: Staging, objid: str, sha256: str, version: int) -> tuple[Path | None, Path, int]:
        """The staged copies, verified (one read and one hash of the source), then the backup renamed into
        place before the primary."""
        self.primary.folder(objid)  # an unsafe OBJID is refused before anything is published
        digest, size = staging.result()
        _verified(objid, digest, sha256)
        backup_path = self.backup.publish(staging.backup_temp(), objid, sha256, version) if self.backup else None
        path = self.primary.publish(staging.primary_temp(), objid, sha256, version)
        return backup_path, path, size

    def _ensure_recorded(self, objid: str, version: int, sha: str, path: Path) -> None:
        """Write the ledger line a crash between rename and ledger write left out (caller holds the lock)."""
        from server.store.ledger import premis_event

        for tree in [self.primary] + ([self.backup] if self.backup else []):
            stored = tree.folder(objid) / path.name
            rel = str(stored.relative_to(tree.root))
            if stored.exists() and rel not in {e["path"] for e in tree.entries()}:
                tree.ledger.append({
                    "objid": objid, "version": version, "sha256": sha, "size": stored.stat().st_size,
                    "path": rel, "at": iso_vn(),
                    "event": premis_event("ingestion", "found stored without a ledger line when the package "
                                          "was sent again; recorded now"),
                })
                log.warning("recorded %s version %d: it was stored but missing from the ledger", objid, version)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store lock (start-up reconciliation, backup): no put runs meanwhile, in any process."""
        with self._lock():
            yield

    def trees(self) -> list[_Tree]:
        return [self.primary] + ([self.backup] if self.backup else [])

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

    def fixity(self, sample: int | None = None, *, seed: int | None = None, manifests: bool = True) -> FixityReport:
        """Audit both copies: the store walked, every file against its name, its METS and the ledger."""
        return audit(self.trees(), sample=sample, seed=seed, manifests=manifests)


class Staging:
    """The copies of one package being written while its checks run (PackageStore.stage).

    Without `link`, one thread reads the source once, hashes it and writes both temp copies (backup and
    primary). With `link`, it writes only the backup copy (or, with no backup, only hashes the source), and
    the primary copy becomes a hard link to the source when it is published: the bytes hashed are the very
    bytes stored. Another file system (no hard link across them) falls back to a copy, verified again.

    `part`: the upload's backup part, written chunk by chunk from the very bytes written to the source. If it
    has the source's size, the thread only hashes it, and it is published as the backup copy: each stored
    copy's bytes are then hashed once, the source's by the package hash check of the commit (the running hash
    of the chunks as they were written, or the file's) and the part's here. A part that does not hash to the
    package's SHA-256 is left alone and the backup copy is copied from the source as without a part."""

    def __init__(self, store: PackageStore, src: Path, sha256: str, *, link: bool, part: Path | None = None):
        self.store, self.src, self.sha256, self.link = store, src, sha256, link
        self._temps: list[tuple[Path, Any]] = []  # (path, handle holding its lock or None)
        self._backup: Path | None = None
        self._part: Path | None = None
        self._primary: Path | None = None
        self._result: tuple[str, int] | None = None
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            if store.backup and link and part is not None and _size(part) == _size(src):
                self._part = part
            elif store.backup:
                self._backup = self._temp(store.backup)
            if not link:
                self._primary = self._temp(store.primary)
        except BaseException:
            self.discard()
            raise
        self._thread = threading.Thread(target=self._copy, name="sohoa-store-copy", daemon=True)
        self._thread.start()

    def _temp(self, tree: _Tree) -> Path:
        path, handle = tree.temp()
        self._temps.append((path, handle))
        return path

    def _copy(self) -> None:
        try:
            if self._part is not None:
                self._result = hash_unbuffered(self._part, stop=self._stop)  # written so (server.ingest.uploads)
                if self._result[0] == self.sha256:
                    self._backup = self._part
                    return
                log.warning("backup part %s does not hash to %s: the backup copy is copied instead",
                            self._part, self.sha256)
                assert self.store.backup is not None  # a part is taken only with a backup
                self._backup = self._temp(self.store.backup)
            dests = [p for p in (self._backup, self._primary) if p is not None]
            self._result = copy_hashing(self.src, *dests, stop=self._stop)
        except BaseException as exc:  # noqa: BLE001 - handed to put(), which raises it
            self._error = exc

    def result(self) -> tuple[str, int]:
        """(SHA-256, size) of the source as the copies were written; raises what the copy raised."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def backup_temp(self) -> Path:
        """The backup copy to publish: a temp file, or the upload's backup part (then gone from uploads/)."""
        assert self._backup is not None
        return self._backup

    def primary_temp(self) -> Path:
        """The primary temp copy: written by the thread, or now a hard link to the source (made and published
        under the store lock, so no clean_tmp runs meanwhile: it needs no lock of its own)."""
        if self._primary is not None:
            return self._primary
        path = self.store.primary.tmp / f"{uuid.uuid4().hex}.part"
        self._temps.append((path, None))
        try:
            os.link(self.src, path)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            digest, _ = copy_hashing(self.src, path)  # another file system: a copy, verified again
            _verified(self.src.name, digest, self.sha256)
        self._primary = path
        return path

    def discard(self) -> None:
        """Stop the copy and remove every temp file not published (a published one is gone already)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for path, handle in self._temps:
            path.unlink(missing_ok=True)
            if handle is not None:
                handle.close()
        self._temps.clear()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1
