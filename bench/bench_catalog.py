"""Catalogue search latency with many pages of OCR text indexed (SQLite FTS5, diacritics folded).

BENCH_CATALOG_PAGES (default 100000; 1000000 for the full run) pages of Vietnamese administrative text
made from sohoa.samplepages' vocabulary, 10 pages per document and 10 documents per hồ sơ, are indexed
through Catalog.add_package; then a mix of queries (common words, rare place names, person names,
parcel numbers; with and without diacritics) is timed. Reports index rate and p50/p95/p99 latency, in wall
clock and in CPU time (the shared machines are noisy), with the load average. BENCH_KEEP=1 keeps the database;
BENCH_REUSE=1 then skips indexing and times the queries on the kept database (the 1 M build takes 6–10 min).
BENCH_CATALOG_BROAD sets the broad-query threshold (Catalog.broad_rows); 0 turns the bounded ranking off,
which is the ranking before it existed: run both on one kept database for a before/after on the same load.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from protocol.package.model import DocumentEntry, PackageContents

PAGES_PER_DOC = 10
DOCS_PER_HOSO = 10
SENTENCES_PER_PAGE = 14
PLACES = [
    "Phước Thiền",
    "Long Thành",
    "Nhơn Trạch",
    "Biên Hòa",
    "Trảng Bom",
    "Xuân Lộc",
    "Định Quán",
    "Tân Phú",
    "Vĩnh Cửu",
    "Cẩm Mỹ",
    "Thống Nhất",
    "Hiệp Phước",
    "Phú Hữu",
    "Đại Phước",
    "Long Tân",
]


def _page(rng: random.Random) -> str:
    from sohoa import samplepages as sp

    out = []
    for _ in range(SENTENCES_PER_PAGE):
        sentence = rng.choice(sp.SENTENCES).format(
            n=rng.randint(1, 9999),
            n2=rng.randint(1, 999),
            n3=rng.randint(1, 99),
            day=rng.randint(1, 28),
            month=rng.randint(1, 12),
            year=rng.randint(1975, 2025),
        )
        out.append(sentence)
        if rng.random() < 0.3:
            out.append(
                f"Ông {rng.choice(sp.SURNAMES)} {rng.choice(sp.MIDDLE)} {rng.choice(sp.GIVEN)}, "
                f"thường trú tại xã {rng.choice(PLACES)}."
            )
    return " ".join(out)


def _hoso(n: int, rng: random.Random) -> tuple[PackageContents, dict[str, str]]:
    from sohoa import samplepages as sp

    file_code = f"000.00.00.H47.{1990 + n % 30}.{n}.VP"
    docs, texts = [], {}
    for k in range(1, DOCS_PER_HOSO + 1):
        doc_id = f"{file_code}.{k}"
        docs.append(DocumentEntry(
            doc_id=doc_id, doc_code=f"{file_code}.{k:07d}", ordinal=k, page_count=PAGES_PER_DOC,
            metadata_path="", pdf_member=f"representations/rep1/data/{doc_id}.pdf",
            fields={
                "subject": rng.choice(sp.SUBJECTS).format(year=2001, year5=2005, n=k),
                "organName": rng.choice(sp.AGENCIES)[1].title(),
                "typeName": "02",
                "issuedDate": "04/03/2001",
            },
        ))
        texts[doc_id] = "\n\f".join(_page(rng) for _ in range(PAGES_PER_DOC))
    contents = PackageContents(
        objid=f"urn:P_UBND_DN:uuid-{n:08d}-0000-4000-8000-000000000000", kind="AIP", record_status="NEW",
        folder="", file_code=file_code, fonds_code="P_UBND_DN",
        hoso={
            "title": f"Hồ sơ giao đất xã {rng.choice(PLACES)} năm {1990 + n % 30}",
            "fileCode": file_code,
            "totalDoc": str(DOCS_PER_HOSO),
        },
        documents=docs, files=[], events=[], premis_objects=[],
    )
    return contents, texts


QUERIES = [
    "dong nai",
    "Đồng Nai",
    "phuoc thien",
    "Phước Thiền",
    "ho so chinh ly",
    "thửa đất số 1234",
    "nguyen van hung",
    "Trần Thị Lan",
    "kinh phi ngan sach",
    "bản đồ số 42",
    "long tan",
    "Đại Phước",
    "quyet dinh co hieu luc",
    "tích đống",
    "so hoa tai lieu chat luong",
    "xuan loc 1999",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    from bench.bench_sync import _machine
    from server.catalogue.catalog import Catalog

    pages = int(os.environ.get("BENCH_CATALOG_PAGES", "100000"))
    work = Path(os.environ.get("BENCH_DIR", "/tmp/sohoa-bench")) / f"catalog-{pages}"
    reuse = bool(os.environ.get("BENCH_REUSE")) and (work / "catalog.db").is_file()
    if not reuse:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    catalog = Catalog(work / "catalog.db")
    if "BENCH_CATALOG_BROAD" in os.environ:
        catalog.broad_rows = int(os.environ["BENCH_CATALOG_BROAD"]) or None
    rng = random.Random(5)
    hosos = max(1, pages // (PAGES_PER_DOC * DOCS_PER_HOSO))
    started, cpu_started = time.perf_counter(), time.process_time()
    text_bytes = 0
    for n in range(0 if reuse else hosos):
        contents, texts = _hoso(n, rng)
        text_bytes += sum(len(t.encode()) for t in texts.values())
        catalog.add_package(
            contents, stored_path="", sha256="0" * 64, station_id="bench", texts=texts, extract_text=False
        )
        if n and n % 200 == 0:
            print(f"  {n * PAGES_PER_DOC * DOCS_PER_HOSO} pages indexed", flush=True)
    index_s, index_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    timings: dict[str, list[float]] = {q: [] for q in QUERIES}
    cpu: dict[str, list[float]] = {q: [] for q in QUERIES}  # CPU time: what a shared, loaded machine distorts least
    hits: dict[str, int] = {}
    load = open("/proc/loadavg").read().split()[:3]
    for _ in range(15):
        for q in QUERIES:
            t, c = time.perf_counter(), time.process_time()
            found = catalog.search(q, limit=20)
            timings[q].append((time.perf_counter() - t) * 1000)
            cpu[q].append((time.process_time() - c) * 1000)
            hits[q] = len(found)
    flat = [v for vs in timings.values() for v in vs[1:]]  # the first round warms the page cache
    flat_cpu = [v for vs in cpu.values() for v in vs[1:]]
    size_mb = sum(p.stat().st_size for p in work.iterdir()) / 1e6
    result = {
        "bench": "catalog",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "pages": hosos * PAGES_PER_DOC * DOCS_PER_HOSO,
        "text_mb": None if reuse else round(text_bytes / 1e6, 1),
        "reused_db": reuse,
        "broad_rows": getattr(catalog, "broad_rows", None),
        "index_s": None if reuse else round(index_s, 1),
        "index_cpu_s": None if reuse else round(index_cpu_s, 1),
        "pages_per_s": None if reuse else round(hosos * PAGES_PER_DOC * DOCS_PER_HOSO / index_s),
        "db_mb": round(size_mb, 1),
        "queries": len(flat),
        "p50_ms": round(statistics.median(flat), 1),
        "p95_ms": round(_percentile(flat, 0.95), 1),
        "p99_ms": round(_percentile(flat, 0.99), 1),
        "cpu_p50_ms": round(statistics.median(flat_cpu), 1),
        "cpu_p95_ms": round(_percentile(flat_cpu, 0.95), 1),
        "cpu_p99_ms": round(_percentile(flat_cpu, 0.99), 1),
        "loadavg_queries": " ".join(load),
        "loadavg_end": " ".join(open("/proc/loadavg").read().split()[:3]),
        "slowest": sorted(((round(statistics.median(v[1:]), 1), q, hits[q]) for q, v in timings.items()), reverse=True)[
            :4
        ],
    }
    print(json.dumps(result, ensure_ascii=False))
    catalog.close()
    if not os.environ.get("BENCH_KEEP"):  # BENCH_KEEP=1 keeps the database for EXPLAIN QUERY PLAN
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
