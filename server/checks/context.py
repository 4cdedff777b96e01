"""What every check shares: the opened package, its parsed contents, and extracted PDFs (on demand)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from protocol.package.model import PackageContents, PackageError
from protocol.package.reader import read_source
from protocol.package.source import Source, open_source
from server.checks.result import Limits


class NotReadable(Exception):
    """The part a check needs could not be read; the check fails with this reason."""


class Context:
    def __init__(self, path: Path, *, trust_roots: list[bytes], expected_sheets: int | None, limits: Limits):
        self.path = Path(path)
        self.trust_roots = trust_roots
        self.expected_sheets = expected_sheets
        self.limits = limits
        self.source: Source | None = None
        self.contents: PackageContents | None = None
        self.error = ""
        self._tmp: Path | None = None
        self._pdfs: dict[str, Path] | None = None
        self.signatures: dict | None = None  # docId -> SignatureVerdict, filled by the signature checks
        try:
            self.source = open_source(self.path)
        except PackageError as exc:
            self.error = str(exc)
            return
        try:
            self.contents = read_source(self.source)
        except PackageError as exc:
            self.error = str(exc)

    def need_source(self) -> Source:
        if self.source is None:
            raise NotReadable(f"package not readable: {self.error}")
        return self.source

    def need_contents(self) -> PackageContents:
        if self.contents is None:
            raise NotReadable(f"package not readable: {self.error}")
        return self.contents

    def bomb_members(self) -> set[str]:
        """Members whose declared sizes look like a zip bomb: never decompressed by any check."""
        lim = self.limits
        return {
            m.name
            for m in self.need_source().members
            if m.size > lim.ratio_floor and m.size > lim.max_ratio * max(m.compressed, 1)
        }

    def too_big(self) -> bool:
        return sum(m.size for m in self.need_source().members) > self.limits.max_total

    def member(self, rel: str) -> str:
        return f"{self.need_contents().folder}/{rel}"

    def pdfs(self) -> dict[str, Path]:
        """docId -> a private copy of its PDF (bounded by the zip limits), for pikepdf and validators."""
        if self._pdfs is not None:
            return self._pdfs
        contents, source = self.need_contents(), self.need_source()
        if self.too_big():
            raise NotReadable("package larger than the configured limit: PDFs not extracted")
        bombs = self.bomb_members()
        present = set(contents.members)
        self._tmp = Path(tempfile.mkdtemp(prefix="sohoa-check-"))
        self._pdfs = {}
        for n, doc in enumerate(contents.documents, start=1):
            name = self.member(doc.pdf_member)
            if doc.pdf_member in present and name not in bombs:
                dest = self._tmp / f"doc-{n}.pdf"  # our own name: a hostile member name never reaches disk
                try:
                    source.copy_to(name, dest)
                except PackageError:
                    continue
                self._pdfs[doc.doc_id or f"#{n}"] = dest
        return self._pdfs

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
