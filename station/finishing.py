"""Finish a batch: OCR → PDF/A → signature → TT05 package → sync queue.

Each document is built in a work folder and moved into place only when complete; a crash anywhere leaves
the batch in FINISHING, and finishing again starts that batch's output over (the captured pages are never
touched). Signing is always the last change to a PDF.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocol.clock import iso_vn, now_vn
from protocol.errors import UserError, say
from protocol.hashing import sha256_file
from protocol.i18n import N_
from protocol.metadata import DocumentRecord, FileRecord, MetadataError, check_document, check_file
from protocol.version import SOFTWARE
from station.processing.orientation import summary as orientation_summary
from station.store import Batch, BatchState, Page, Store
from station.sync.rebuild import carried_page
from station.sync.rework import version_args
from station.sync.space import DISK_FULL, disk_full

if TYPE_CHECKING:
    from station.output.pages import FinishedPage

log = logging.getLogger("sohoa.station.finishing")


class FinishError(UserError):
    """Finishing stopped; the batch goes back to review. Carries an operator message."""

    key = "finish"


@dataclass
class FinishResult:
    package_path: Path
    objid: str
    sha256: str
    size: int
    documents: int
    pages: int


def _ocr_job(args: tuple[str, float, str]) -> FinishedPage:
    """In a worker: OCR and the JPEG image layer of one page, from one decode (station.output.pages)."""
    from station.output.pages import finish_page

    path, dpi, lang = args
    return finish_page(Path(path), dpi=dpi, lang=lang)


def _done(result: object) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


def _pool(workers: int) -> ProcessPoolExecutor:
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    return ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1)


class Finisher:
    def __init__(
        self,
        store: Store,
        data_dir: Path,
        *,
        signer: Any,
        agency_name: str,
        ocr_lang: str = "vie",
        workers: int = 0,
        package_kind: str = "AIP",
        software: str = SOFTWARE,
        station_id: str = "",
        on_progress: Callable[[str, dict], None] | None = None,
    ):
        self.store = store
        self.data_dir = data_dir
        self.signer = signer
        self.agency_name = agency_name
        self.ocr_lang = ocr_lang
        self.workers = workers
        self.package_kind = package_kind
        self.software = software
        self.station_id = station_id
        self.on_progress = on_progress or (lambda step, info: None)

    def finish(self, batch_id: int, *, actor: str) -> FinishResult:
        batch = self.store.batch(batch_id)
        if batch["state"] == BatchState.REVIEW:
            self.store.transition(batch_id, BatchState.FINISHING, actor=actor)
        elif batch["state"] != BatchState.FINISHING:  # FINISHING: resuming after a crash
            raise FinishError(
                N_("batch %(batch_id)s is %(state)s, not ready to finish"), batch_id=batch_id, state=batch['state'],
            )
        try:
            return self._finish(batch, actor=actor)
        except Exception as exc:
            full = disk_full(exc)
            try:
                self.store.transition(batch_id, BatchState.REVIEW, actor=actor, error=str(exc))
            except Exception:
                if not full:
                    raise
                # Not even the state change fits on the disk: the batch stays FINISHING, which finish()
                # resumes (and a restart sends back to review); its pages are untouched either way.
                log.error("batch %s stays FINISHING: the disk is full", batch_id, extra={"batch": batch_id})
            if full:
                raise FinishError(N_("The hồ sơ was not finished (%(error)s). %(disk_full)s"), error=str(exc),
                                  disk_full=say(DISK_FULL)) from exc
            if isinstance(exc, FinishError):
                raise
            raise FinishError(N_("finishing failed: %(exc)s"), exc=exc) from exc

    # ------------------------------------------------------------------------------------------
    def _finish(self, batch: Batch, *, actor: str) -> FinishResult:
        from protocol.package import PackageDocument, PremisEvent, build_package

        hoso, docs = self._records(batch)
        pages = {p["id"]: p for p in self.store.pages(batch["id"])}
        work = self.data_dir / "output" / batch["uid"]
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        events: list[PremisEvent] = self._capture_events(batch, list(pages.values()))
        package_docs = []
        with _pool(self.workers) as pool:
            # Every page's OCR is queued at once: the workers keep going while this thread builds and
            # signs the documents whose pages are done.
            # A page rebuilt from the stored package and untouched since keeps its image and OCR layer.
            ocr_jobs = {
                pid: _done(carried) if (carried := carried_page(self.data_dir, pages[pid])) else
                pool.submit(_ocr_job, (str(path), dpi, self.ocr_lang))
                for pid, (path, dpi) in ((pid, self._page_image(pages[pid])) for _, rec in docs for pid in rec.page_ids)
            }
            for doc_row, record in docs:
                doc_pages = [pages[pid] for pid in record.page_ids]
                built = self._document(hoso, record, doc_pages, work, ocr_jobs, events)
                self.store.set_document_output(
                    doc_row["id"],
                    pdf_path=str(built["path"].relative_to(self.data_dir)),
                    pdf_sha256=built["sha256"],
                    page_count=len(doc_pages),
                    text=built["layer"],  # the one text of the document: the layer it packs
                )
                package_docs.append(
                    PackageDocument(
                        record=record, pdf_path=built["path"], page_count=len(doc_pages), text=built["layer"]
                    )
                )
        events.insert(
            0,
            PremisEvent(
                event_type="transfer",
                at=batch["created_at"],
                agent=f"person:{batch['operator']}",
                detail=f"digitisation of paper hồ sơ {hoso.paper_file_code} ({hoso.number_of_paper} sheets) "
                f"at station {self.station_id}",
                objects=[d.record.doc_id(hoso.file_code) for d in package_docs],
                extra={},
            ),
        )
        hoso.total_doc = len(package_docs)
        hoso.number_of_page = sum(d.page_count for d in package_docs)
        self.on_progress("package", {"batch": batch["id"]})
        out_dir = self.data_dir / "packages"
        out_dir.mkdir(parents=True, exist_ok=True)
        built_pkg = build_package(
            hoso=hoso,
            documents=package_docs,
            events=events,
            out_dir=out_dir,
            kind=self.package_kind,
            software=self.software,
            packager=actor,
            **version_args(self.store, batch["id"]),  # a reopened hồ sơ: the next version of the stored one
        )
        rel = Path(built_pkg.path).relative_to(self.data_dir)
        try:
            self.store.enqueue_package(
                batch["id"], package_path=str(rel), sha256=built_pkg.sha256, size=built_pkg.size, actor=actor
            )
        except BaseException:  # e.g. the disk filled up: never leave a package the queue does not know
            Path(built_pkg.path).unlink(missing_ok=True)
            raise
        return FinishResult(
            package_path=Path(built_pkg.path),
            objid=built_pkg.objid,
            sha256=built_pkg.sha256,
            size=built_pkg.size,
            documents=len(package_docs),
            pages=hoso.number_of_page,
        )

    def _records(self, batch: Batch) -> tuple[FileRecord, list[tuple[dict, DocumentRecord]]]:
        hoso = FileRecord(**batch["record"])
        live = [p for p in self.store.pages(batch["id"]) if not p["blank"]]
        hoso.number_of_paper = len({p["sheet"] for p in self.store.pages(batch["id"])})
        rows = self.store.documents(batch["id"])
        problems = [p for p in check_file(hoso) if not p.warning]
        docs = []
        for row in rows:
            record = DocumentRecord(**row["record"])
            record.number_of_page = len(record.page_ids)
            problems += [p for p in check_document(record, hoso.file_code) if not p.warning]
            docs.append((row, record))
        if not docs:
            raise FinishError(N_("no documents: split the hồ sơ into documents first"))
        assigned = [pid for _, rec in docs for pid in rec.page_ids]
        if sorted(assigned) != sorted(p["id"] for p in live):
            raise FinishError(
                N_("every non-blank page must belong to exactly one document"),
            )
        if problems:
            raise MetadataError(problems)
        return hoso, docs

    def _page_image(self, page: Page) -> tuple[Path, float]:
        rel = page["derivative_path"] or page["path"]
        return self.data_dir / rel, float(page["dpi"])

    def _document(
        self,
        hoso: FileRecord,
        record: DocumentRecord,
        pages: list[Page],
        work: Path,
        ocr_jobs: dict[int, Future],
        events: list,
    ) -> dict:
        from protocol.package import PremisEvent
        from station.output.document import write_document
        from station.output.pdfa import PdfMeta

        doc_id = record.doc_id(hoso.file_code)
        self.on_progress("ocr", {"doc_id": doc_id, "pages": len(pages)})
        images = [self._page_image(p) for p in pages]
        ocr: list[FinishedPage] = [ocr_jobs[p["id"]].result() for p in pages]
        for page, result in zip(pages, ocr, strict=True):
            events.append(
                PremisEvent(
                    event_type="OCR",
                    at=iso_vn(),
                    agent=f"software:tesseract ({self.ocr_lang})",
                    detail=f"confidence {result.confidence:.1f}" if result.ok else f"failed: {result.error}",
                    outcome="success" if result.ok else "failure",
                    objects=[doc_id, _page_ref(page)],
                    extra={},
                )
            )
        self.on_progress("pdfa", {"doc_id": doc_id})
        # Built and signed in memory: the unsigned PDF is never written, read back or parsed twice.
        meta = PdfMeta(
            title=record.subject,
            doc_id=doc_id,
            doc_code=record.doc_code(hoso.file_code),
            agency=self.agency_name,
            created=now_vn(),
        )
        self.on_progress("sign", {"doc_id": doc_id})
        final = work / f"{doc_id}.pdf"
        built = write_document(images, ocr, meta=meta, out=final, signer=self.signer, agency_name=self.agency_name)
        signed = built.signed
        events.append(
            PremisEvent(
                event_type="creation",
                at=iso_vn(),
                agent=f"software:{self.software}",
                detail="two-layer PDF/A-2b built from the page images and OCR text",
                objects=[doc_id],
                extra={},
            )
        )
        if built.pdfa_problems:
            problems = built.pdfa_problems
            raise FinishError(
                N_("%(doc_id)s.pdf fails PDF/A checks: %(problems)s"), doc_id=doc_id, problems='; '.join(problems),
            )
        digest = sha256_file(final)
        events.append(
            PremisEvent(
                event_type="digital signature generation",
                at=signed.signed_at,
                agent=signed.signer_subject,
                detail=f"PAdES signature by {self.agency_name}",
                objects=[doc_id],
                extra={"sha256": digest},
            )
        )
        return {"path": final, "sha256": digest, "layer": _text_layer(final, len(pages))}

    def _capture_events(self, batch: Batch, pages: list[Page]) -> list:
        from protocol.package import PremisEvent

        events = []
        for page in pages:
            settings = ", ".join(f"{k}={v}" for k, v in sorted(page["settings"].items()))
            events.append(
                PremisEvent(
                    event_type="capture",
                    at=page["captured_at"],
                    agent=f"device:{page['device']}",
                    detail=f"{page['source']} side={page['side']} sheet={page['sheet']} {settings}",
                    objects=[_page_ref(page)],
                    extra={"sha256": page["sha256"]},
                )
            )
            if page["processing"] and page["processing"].get("package"):
                kept = page["processing"]["package"]
                events.append(
                    PremisEvent(
                        event_type="replication",
                        at=page["processed_at"] or page["captured_at"],
                        agent=f"software:{self.software}",
                        detail=f"image layer of {kept['objid']} version {kept['version']} taken out of its "
                        f"stored PDF unchanged (JPEG {kept['jpeg_sha256']})",
                        objects=[_page_ref(page)],
                        extra={"sha256": page["derivative_sha256"]},
                    )
                )
            elif page["processing"]:
                proc = page["processing"]
                assert page["processed_at"] is not None  # written in the same UPDATE as "processing"
                how = orientation_summary(proc.get("rotation_method", "none"), proc.get("rotation_evidence") or {})
                turn = f", operator turn {proc['manual_rotation']}" if proc.get("manual_rotation") else ""
                events.append(
                    PremisEvent(
                        event_type="modification",
                        at=page["processed_at"],
                        agent=f"software:{self.software}",
                        detail=f"deskew {proc.get('angle', 0):.2f}°, rotation {proc.get('rotation', 0)} ({how}){turn}, "
                        f"derivative {page['derivative_sha256']}",
                        objects=[_page_ref(page)],
                        extra={"sha256": page["derivative_sha256"]},
                    )
                )
        return events


def _page_ref(page: Page) -> str:
    return f"page:{page['batch_id']}:{page['seq']}"


def _text_layer(pdf: Path, pages: int) -> str:
    """The signed document's text layer as the archive's catalogue reads it (pdftotext: the OCR layer and
    the visible signature's stamp, pages ended by form feeds), packed with it so the archive need not run
    pdftotext again. The station has the time (OCR took far longer); the archive, taking in many stations'
    packages, does not. '' (nothing packed: the archive runs pdftotext) when it cannot be read page for page."""
    from protocol.pdftext import page_count, pdf_text

    text = pdf_text(pdf, timeout=300)
    if page_count(text) != pages:
        log.warning("%s: pdftotext gave %d pages of %d: no text layer packed", pdf.name, page_count(text), pages)
        return ""
    return text
