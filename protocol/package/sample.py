"""A small, valid sample hồ sơ (real PDFs made with img2pdf) for tests, demos and `package build --sample`.

The PDFs are plain image PDFs, not PDF/A and not signed: a sample package passes the structural checks,
not the PDF/A or signature checks.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import img2pdf
from PIL import Image, ImageDraw

from protocol.clock import iso_vn
from protocol.metadata import DocumentRecord, FileRecord
from protocol.package.build import build_package
from protocol.package.model import BuiltPackage, PackageDocument, PremisEvent
from protocol.pdftext import pdf_text
from protocol.version import SOFTWARE


def make_pdf(path: Path, pages: int, *, label: str = "sohoa", dpi: int = 200) -> Path:
    """A PDF of `pages` small RGB pages (A6 at `dpi`), each with a visible number."""
    images = []
    for n in range(1, pages + 1):
        img = Image.new("RGB", (int(4.1 * dpi), int(5.8 * dpi)), (250, 248, 240))
        ImageDraw.Draw(img).text((40, 40), f"{label} {n}", fill=(20, 20, 20))
        buf = io.BytesIO()
        img.save(buf, format="PNG", dpi=(dpi, dpi))
        images.append(buf.getvalue())
    Path(path).write_bytes(img2pdf.convert(images))
    return Path(path)


def sample_file(**overrides: object) -> FileRecord:
    values: dict[str, Any] = dict(
        agency_id="000.00.00.G09",
        year=2010,
        notation="01.TH",
        title="Hồ sơ giao đất cho Ủy ban nhân dân tỉnh Đồng Nai",
        maintenance="01",
        mode="01",
        language="01",
        start_date="02/01/2010",
        end_date="30/12/2010",
        number_of_paper=3,
        paper_file_code="LT01.K1-G05-H012.160",
        fonds_code="G09",
        agency_name="Bộ Nội vụ",
        keyword="đất đai",
    )
    values.update(overrides)
    return FileRecord(**values)


def sample_documents(tmp: Path, page_counts: tuple[int, ...] = (2, 1)) -> list[PackageDocument]:
    subjects = [
        "Quyết định về việc giao đất tại huyện Long Thành, tỉnh Đồng Nai",
        "Công văn về việc đo đạc bản đồ địa chính",
        "Biên bản bàn giao mốc giới",
    ]
    docs = []
    for ordinal, pages in enumerate(page_counts, start=1):
        pdf = make_pdf(Path(tmp) / f"doc{ordinal}.pdf", pages, label=f"doc {ordinal}")
        record = DocumentRecord(
            ordinal=ordinal,
            type_name=("02", "22", "20")[(ordinal - 1) % 3],
            issued_date=f"{ordinal:02d}/03/2010",
            organ_name="Ủy ban nhân dân tỉnh Đồng Nai",
            subject=subjects[(ordinal - 1) % 3],
            code_number=str(10 + ordinal),
            code_notation="QĐ-UBND",
            number_of_page=pages,
        )
        docs.append(
            PackageDocument(
                record=record,
                pdf_path=pdf,
                page_count=pages,
                text=pdf_text(pdf),  # as the station packs it: pdftotext's (blank) pages of these image PDFs
            )
        )
    return docs


def sample_events(documents: list[PackageDocument], file_code: str, batch: str = "B1") -> list[PremisEvent]:
    at = iso_vn()
    events, seq = [], 0
    for doc in documents:
        pages = []
        for _ in range(doc.page_count):
            seq += 1
            pages.append(f"page:{batch}:{seq}")
            events.append(
                PremisEvent(
                    "capture",
                    at,
                    detail="scanned",
                    agent="device:test:0",
                    objects=[pages[-1]],
                    extra={"dpi": 200, "mode": "Color"},
                )
            )
        did = doc.record.doc_id(file_code)
        events.append(
            PremisEvent(
                "transfer",
                at,
                detail="digitised copy made",
                agent=f"software:{SOFTWARE}",
                objects=[*pages, did],
            )
        )
        events.append(
            PremisEvent(
                "digital signature generation", at, detail="PAdES", agent="person:operator", objects=[did]
            )
        )
    return events


def build_sample(
    out_dir: Path,
    *,
    work_dir: Path | None = None,
    kind: str = "AIP",
    page_counts: tuple[int, ...] = (2, 1),
    **kwargs: Any,
) -> BuiltPackage:
    """Build a sample package into `out_dir` (PDFs made in `work_dir`, default `out_dir`)."""
    work = Path(work_dir or out_dir)
    work.mkdir(parents=True, exist_ok=True)
    hoso: FileRecord = kwargs.pop("hoso", None) or sample_file()
    docs = sample_documents(work, page_counts)
    return build_package(
        hoso=hoso,
        documents=docs,
        events=sample_events(docs, hoso.file_code),
        out_dir=Path(out_dir),
        kind=kind,
        **kwargs,
    )
