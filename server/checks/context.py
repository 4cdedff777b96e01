"""What every check shares: the opened package, its parsed contents, and what each PDF gave (pdfwork)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from protocol.package.model import PackageContents, PackageError
from protocol.package.reader import read_source
from protocol.package.source import Source, open_source
from protocol.scratch import scratch_dir
from server.checks.result import Limits


class NotReadable(Exception):
    """The part a check needs could not be read; the check fails with this reason."""


class Context:
    def __init__(self, path: Path, *, trust_roots: list[bytes], expected_sheets: int | None, limits: Limits,
                 early: Any = None):
        self.path = Path(path)
        self.early = early  # server.ingest.early.Claim: PDF jobs done while the upload arrived, or None
        self.trust_roots = trust_roots
        self.expected_sheets = expected_sheets
        self.limits = limits
        self.source: Source | None = None
        self.contents: PackageContents | None = None
        self.error = ""
        self._tmp: Path | None = None
        # (docId, pdfwork.Job, future, (size, CRC-32) an early job's findings must show, else None) per document
        self._work: list | None = None
        self._work_error: NotReadable | None = None
        self._findings: dict | None = None
        self._digests: dict[str, tuple[int, str]] = {}
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

    def start_pdf_work(self, *, text: bool = False) -> None:
        """Start taking each document's PDF out and inspecting it (server.checks.pdfwork), so the work runs
        on every core while the structural checks run here. `text`: each one's text layer for the catalogue (the
        package's text file METS lists for it, else pdftotext)."""
        if self._work is not None:
            return
        from server.checks import pdfwork

        try:
            contents = self.need_contents()
            if self.too_big():
                raise NotReadable("package larger than the configured limit: PDFs not extracted")
        except NotReadable as exc:
            self._work_error = exc
            self._work = []
            return
        bombs = self.bomb_members()
        present = set(contents.members)
        self._tmp = scratch_dir("check")
        planned: list[tuple[str, pdfwork.Job]] = []
        for n, doc in enumerate(contents.documents, start=1):
            name = self.member(doc.pdf_member)
            if doc.pdf_member in present and name not in bombs:
                text_name = self.member(doc.text_member) if doc.text_member in present else ""
                job = pdfwork.Job(self.path, name, self._tmp / f"doc-{n}.pdf", self.trust_roots, text,
                                  text_name if text_name not in bombs else "")
                planned.append((doc.doc_id or f"#{n}", job))
        early = {str(i): self.early.take(self.source, job) if self.early else None
                 for i, (_, job) in enumerate(planned)}
        futures = pdfwork.submit({str(i): job for i, (_, job) in enumerate(planned) if early[str(i)] is None})
        self._work = []
        for i, (key, job) in enumerate(planned):
            took = early[str(i)]
            self._work.append((key, job, took[0], took[1:]) if took else (key, job, futures[str(i)], None))

    def findings(self) -> dict:
        """docId -> pdfwork.Findings of its PDF (bounded by the zip limits); a member that could not be
        taken out is left out, as a later document with the same docId overrides an earlier one."""
        if self._findings is not None:
            return self._findings
        self.start_pdf_work()
        if self._work_error is not None:
            raise self._work_error
        from server.checks import pdfwork

        found, digests = {}, {}
        for key, job, future, expect in self._work or []:
            result = self._early_result(future, expect) if expect else None
            if result is not None and job.text and not pdfwork.attach_packed_text(self.need_source(), job, result):
                result = None  # an early job reads no text: without a text file to take, pdftotext the normal way
            if result is None:
                result = pdfwork.result(job, future if expect is None else pdfwork.submit({"": job})[""])
            if result.present:
                found[key] = result
                if result.sha256:
                    digests[job.member] = (result.size, result.sha256)
        self._digests = digests
        self._findings = found
        return found

    @staticmethod
    def _early_result(future: Any, expect: tuple[int, int]) -> Any:
        """An early job's findings if its bytes have the central directory's size and CRC-32 (which the
        normal read checks too), else None: anything else, a failure included, runs the normal job."""
        try:
            found = future.result()
        except Exception:  # noqa: BLE001 - cancelled, a broken pool, a read error: do it the normal way
            return None
        return found if found.present and (found.size, found.crc32) == expect else None

    def pdf_digests(self) -> dict[str, tuple[int, str]]:
        """Member name -> (size, SHA-256) of each PDF as the PDF work took it out: the bytes Source.sha256
        would read, so the fixity check need not read them again. Empty when the work was not started (a
        check of the structure alone) or could not run."""
        if self._work is None:
            return {}
        try:
            self.findings()
        except NotReadable:
            return {}
        return self._digests

    def texts(self) -> dict[str, str] | None:
        """docId -> text layer, when the PDF work was started with `text` and finished; else None."""
        if self._findings is None or not self._work or not all(job.text for _, job, _, _ in self._work):
            return None
        return {key: f.text or "" for key, f in self._findings.items()}

    def close(self) -> None:
        for _, _, future, _ in self._work or []:  # a check that stopped early: let its workers finish first
            if not future.cancel():
                try:
                    future.exception()
                except Exception:  # noqa: BLE001 - a broken pool: nothing left to wait for
                    pass
        if self.source is not None:
            self.source.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
