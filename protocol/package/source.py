"""Read members of a package (a .zip or an unpacked folder) without trusting it.

Nothing is ever extracted by name: members are read into memory or streamed with bounded sizes, and a
folder's symlinks are never followed. Safety findings (traversal, symlinks, bombs) are reported by
server.checks; this module only refuses to read what could hurt the reader.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from protocol.i18n import N_
from protocol.package.model import PackageError

MAX_XML = 64 << 20  # an XML member larger than this is refused (no METS needs it)
LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # a zip member's local header, as zipfile reads it


@dataclass(frozen=True)
class Member:
    name: str  # as stored (zip name or folder-relative path with '/')
    size: int  # declared uncompressed size
    compressed: int
    symlink: bool = False
    is_dir: bool = False


@dataclass(frozen=True)
class StoredSpan:
    """A stored zip member as the central directory and its local header place it."""

    header_offset: int
    data_offset: int
    size: int
    crc32: int


class Source:
    """Common interface: `members` (every entry, duplicates included), `read`, `sha256`."""

    members: list[Member]

    def read(self, name: str, *, limit: int = MAX_XML) -> bytes:
        raise NotImplementedError

    def sha256(self, name: str) -> tuple[int, str]:
        raise NotImplementedError

    def stored_span(self, name: str) -> StoredSpan | None:
        return None  # only a zip has them

    def copy_to(self, name: str, dest: Path) -> None:
        with open(dest, "wb") as out:
            for block in self._blocks(name):
                out.write(block)

    def _blocks(self, name: str) -> Iterator[bytes]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ZipSource(Source):
    def __init__(self, path: Path):
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise PackageError(N_("not a readable zip file: %(exc)s"), exc=exc) from exc
        self.members = []
        self._info: dict[str, zipfile.ZipInfo] = {}
        for info in self.zf.infolist():
            mode = info.external_attr >> 16
            self.members.append(
                Member(
                    info.filename,
                    info.file_size,
                    info.compress_size,
                    symlink=stat.S_ISLNK(mode),
                    is_dir=info.is_dir(),
                )
            )
            self._info.setdefault(info.filename, info)  # first of duplicates: checks flag the rest

    def _get(self, name: str) -> zipfile.ZipInfo:
        info = self._info.get(name)
        if info is None:
            raise PackageError(N_("no member '%(name)s'"), name=name)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise PackageError(N_("'%(name)s' is a symbolic link"), name=name)
        return info

    def read(self, name: str, *, limit: int = MAX_XML) -> bytes:
        info = self._get(name)
        if info.file_size > limit:
            raise PackageError(N_("'%(name)s' is larger than %(limit)s bytes"), name=name, limit=limit)
        try:
            with self.zf.open(info) as handle:
                data = handle.read(limit + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as exc:
            raise PackageError(N_("cannot read '%(name)s': %(exc)s"), name=name, exc=exc) from exc
        if len(data) > limit:
            raise PackageError(N_("'%(name)s' is larger than %(limit)s bytes"), name=name, limit=limit)
        return data

    def stored_span(self, name: str) -> StoredSpan | None:
        """Where `copy_to(name)` reads the member's bytes, for a member stored as is (no compression, no
        encryption, both sizes equal) that zipfile opens (the names agree, no overlap): else None."""
        try:
            info = self._get(name)
            if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1 or info.compress_size != info.file_size:
                return None
            with self.zf.open(info):  # the same checks as a read, without reading
                pass
            with open(self.zf.filename or "", "rb") as handle:
                handle.seek(info.header_offset)
                header = handle.read(LOCAL_HEADER.size)
            fields = LOCAL_HEADER.unpack(header)
        except (PackageError, zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, struct.error):
            return None
        # as ZipFile.open, which skips the local header's name and extra field (lengths at 10 and 11)
        data = info.header_offset + LOCAL_HEADER.size + fields[10] + fields[11]
        return StoredSpan(info.header_offset, data, info.file_size, info.CRC)

    def _blocks(self, name: str) -> Iterator[bytes]:
        info = self._get(name)
        left = info.file_size + 1  # zipfile stops at the declared size; never read past it
        try:
            with self.zf.open(info) as handle:
                while left > 0 and (block := handle.read(min(1 << 20, left))):
                    left -= len(block)
                    yield block
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as exc:
            raise PackageError(N_("cannot read '%(name)s': %(exc)s"), name=name, exc=exc) from exc

    def sha256(self, name: str) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        for block in self._blocks(name):
            digest.update(block)
            size += len(block)
        return size, digest.hexdigest().upper()

    def close(self) -> None:
        self.zf.close()


class DirSource(Source):
    """An unpacked package: `path` is the folder that holds the top folder (or the top folder itself)."""

    def __init__(self, path: Path):
        self.root = Path(path)
        if (self.root / "METS.xml").is_file():  # given the package folder itself
            self.root = self.root.parent
            only = Path(path).name
        else:
            only = None
        self.members = []
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in sorted(dirnames) + sorted(filenames):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                rel = rel.replace(os.sep, "/")
                if only and rel.split("/")[0] != only:
                    continue
                st = os.lstat(os.path.join(dirpath, name))
                if stat.S_ISDIR(st.st_mode):
                    self.members.append(Member(rel + "/", 0, 0, is_dir=True))
                else:
                    self.members.append(Member(rel, st.st_size, st.st_size, symlink=stat.S_ISLNK(st.st_mode)))

    def _path(self, name: str) -> Path:
        parts = name.split("/")
        if name.startswith("/") or ".." in parts:
            raise PackageError(N_("unsafe path '%(name)s'"), name=name)
        path = self.root.joinpath(*parts)
        if not path.exists() and (nfd := self.root / unicodedata.normalize("NFD", name)).exists():
            path = nfd  # some file systems (macOS) hand back NFD names
        if path.is_symlink() or not path.is_file():
            raise PackageError(N_("no regular file '%(name)s'"), name=name)
        return path

    def read(self, name: str, *, limit: int = MAX_XML) -> bytes:
        path = self._path(name)
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise PackageError(N_("'%(name)s' is larger than %(limit)s bytes"), name=name, limit=limit)
        return data

    def _blocks(self, name: str) -> Iterator[bytes]:
        with open(self._path(name), "rb") as handle:
            while block := handle.read(1 << 20):
                yield block

    def sha256(self, name: str) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        for block in self._blocks(name):
            digest.update(block)
            size += len(block)
        return size, digest.hexdigest().upper()


def open_source(path: Path) -> Source:
    path = Path(path)
    if path.is_dir():
        return DirSource(path)
    if not path.is_file():
        raise PackageError(N_("no such package: %(path)s"), path=path)
    return ZipSource(path)


def top_folders(source: Source) -> list[str]:
    return sorted({m.name.split("/")[0] for m in source.members if m.name.split("/")[0]})
