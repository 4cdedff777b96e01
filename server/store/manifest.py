"""A stored package checked against its own manifest: every file its METS lists, with SIZE and CHECKSUM.

Read through protocol/package's reader (the one reader of the package structure), never a parser of our
own; the store keeps zips, so the members are re-hashed as they are inflated."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from protocol.package import PackageError
from protocol.package.reader import read_source
from protocol.package.source import open_source


def manifest_problems(path: Path) -> list[str]:
    """What differs between a package and its METS (empty: every listed file is there and intact)."""
    try:
        with open_source(Path(path)) as source:
            contents = read_source(source)
            if not contents.files:
                return ["METS lists no files"]
            members = {m.name for m in source.members}
            problems = []
            for entry in contents.files:
                name = f"{contents.folder}/{entry.path}"
                if name not in members:
                    problems.append(f"{entry.path}: listed in {entry.mets} but missing")
                    continue
                try:
                    size, digest = source.sha256(name)
                except PackageError as exc:
                    problems.append(f"{entry.path}: unreadable ({exc})")
                    continue
                if entry.size >= 0 and size != entry.size:
                    problems.append(f"{entry.path}: size {size} but {entry.mets} says {entry.size}")
                if digest != (entry.sha256 or "").upper():
                    problems.append(f"{entry.path}: SHA-256 {digest} but {entry.mets} says {entry.sha256 or '(none)'}")
            return problems
    except (PackageError, etree.XMLSyntaxError, OSError, ValueError) as exc:
        return [f"not a readable package: {exc}"]
