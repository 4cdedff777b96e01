"""The archive workspace: first page of a 300-page stored document in the viewer, and find() beside
Catalog.search on the same catalogue.

Viewer: a real signed PDF/A of BENCH_ARCHIVE_DOC_PAGES (default 300) pages (one OCR'd sample page repeated)
in a real TT05 package in a PackageStore. "First page" is what the browser waits for: the document taken
out of the stored zip + its page count + page 1 rendered at 900 px (server/archive/render.py), cold cache,
and then warm. Peers in the same run: poppler rendering that page straight from a PDF on disk (the floor), and
poppler rendering the whole document (what a viewer that renders up front would pay). Target: < 1 s.

Find: BENCH_ARCHIVE_PAGES (default 20000) pages of bench_catalog's generated text indexed; each of
bench_catalog's queries timed through Catalog.search (limit 20) and through server.archive.find.find (first
page of 20, snippets and pages), then find with a fonds and a document-type filter. Reports p50/p95 and the
ratio find/search. BENCH_REUSE=1 with BENCH_KEEP=1 as in bench_catalog. BENCH_ARCHIVE_PARTS=viewer or =find runs
one half.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 1)


def _viewer(work: Path, pages: int) -> dict:
    from protocol.clock import iso_vn, now_vn
    from protocol.metadata import DocumentRecord, FileRecord
    from protocol.package import PackageDocument, PremisEvent, build_package
    from server.archive import render
    from server.store.storage import PackageStore
    from sohoa.samplepages import write_sample_folder
    from station.output.keys import ensure_demo_ca
    from station.output.ocr import ocr_page
    from station.output.pdfa import PdfMeta, PdfPage, build_pdfa
    from station.output.signing import Signer

    agency = "Ủy ban nhân dân tỉnh Đồng Nai"
    keys = ensure_demo_ca(work / "keys", agency_name=agency)
    [image] = write_sample_folder(work / "img", count=1, seed=3, dpi=200)
    text_pdf = ocr_page(image, dpi=200).text_pdf
    started = time.perf_counter()
    unsigned, signed = work / "unsigned.pdf", work / "000.00.00.H47.2001.160.VP.1.pdf"
    build_pdfa([PdfPage(image_path=image, dpi=200, text_pdf=text_pdf)] * pages, out=unsigned,
               meta=PdfMeta(title="Thử", doc_id="000.00.00.H47.2001.160.VP.1",
                            doc_code="000.00.00.H47.2001.160.VP.0000001", agency=agency, created=now_vn()))
    Signer.from_pkcs12(keys.agency_p12, keys.passphrase).sign(unsigned, signed, agency_name=agency)
    hoso = FileRecord(agency_id="000.00.00.H47", year=2001, notation="160.VP", title="Hồ sơ thử", maintenance="01",
                      mode="01", language="01", start_date="04/03/2001", end_date="28/12/2001", number_of_paper=pages,
                      paper_file_code="TTLT.1", fonds_code="P_UBND_DN", agency_name=agency)
    hoso.total_doc, hoso.number_of_page = 1, pages
    doc = DocumentRecord(ordinal=1, type_name="02", issued_date="04/03/2001", organ_name=agency, subject="Thử",
                         number_of_page=pages)
    (work / "pkg").mkdir()
    pkg = build_package(hoso=hoso, documents=[PackageDocument(record=doc, pdf_path=signed, page_count=pages)],
                        events=[PremisEvent(event_type="transfer", at=iso_vn(), agent="person:bench")],
                        out_dir=work / "pkg")
    store = PackageStore(work / "store")
    store.put(pkg.path, objid=pkg.objid, sha256=pkg.sha256)
    build_s = time.perf_counter() - started
    ctx = SimpleNamespace(store=store, config=SimpleNamespace(data_dir=work / "server",
                                                              trust_root_pems=lambda: [keys.ca_pem.read_bytes()]))
    doc_id = doc.doc_id(hoso.file_code)
    cold, warm, text, floor = [], [], [], []
    for _ in range(5):
        shutil.rmtree(work / "server", ignore_errors=True)
        render._VERDICTS.clear()
        t = time.perf_counter()
        stored = render.open_document(ctx, pkg.objid, doc_id)
        render.page_png(stored, 1, 900)
        cold.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        render.text_layer(stored, 1)
        text.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        render.page_png(render.open_document(ctx, pkg.objid, doc_id), 1, 900)
        warm.append((time.perf_counter() - t) * 1000)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-singlefile", "-png", "-scale-to-x", "900",
                            "-scale-to-y", "-1", str(signed), f"{tmp}/p"], check=True)
            floor.append((time.perf_counter() - t) * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run(["pdftoppm", "-png", "-scale-to-x", "900", "-scale-to-y", "-1", str(signed), f"{tmp}/p"],
                       check=True)
        whole = (time.perf_counter() - t) * 1000
    return {
        "doc_pages": pages,
        "pdf_mb": round(signed.stat().st_size / 1e6, 1),
        "build_s": round(build_s, 1),
        "first_page_cold_ms_median": round(statistics.median(cold), 1),
        "first_page_cold_ms_max": round(max(cold), 1),
        "first_page_warm_ms_median": round(statistics.median(warm), 1),
        "text_layer_ms_median": round(statistics.median(text), 1),
        "peer_pdftoppm_one_page_ms": round(statistics.median(floor), 1),
        "peer_pdftoppm_whole_document_ms": round(whole, 1),
        "cold_over_one_page_render": round(statistics.median(cold) / statistics.median(floor), 2),
        "whole_over_cold": round(whole / statistics.median(cold), 1),
    }


def _find(work: Path, pages: int, pg_url: str = "") -> dict:
    """Index `pages` generated pages (or reuse them, BENCH_REUSE) in a SQLite catalogue in `work`, or in the
    PostgreSQL database at `pg_url`, then time Catalog.search, find and find with filters on bench_catalog's
    queries."""
    import random

    from bench.bench_catalog import DOCS_PER_HOSO, PAGES_PER_DOC, QUERIES, _hoso
    from server.archive import find
    from server.catalogue.catalog import Catalog

    catalog: Any
    if pg_url:
        from server.catalogue.catalog_pg import PgCatalog

        catalog = PgCatalog(pg_url)
        reuse = bool(os.environ.get("BENCH_REUSE")) and bool(catalog._rows("SELECT 1 FROM packages LIMIT 1", []))
    else:
        db = work / "catalog.db"
        reuse = bool(os.environ.get("BENCH_REUSE")) and db.is_file()
        catalog = Catalog(db)
    rng = random.Random(5)
    hosos = max(1, pages // (PAGES_PER_DOC * DOCS_PER_HOSO))
    for n in range(0 if reuse else hosos):
        contents, texts = _hoso(n, rng)
        catalog.add_package(contents, stored_path="", sha256="0" * 64, station_id="bench", texts=texts,
                            extract_text=False)
    runs: dict[str, list[float]] = {"search": [], "find": [], "find_filtered": []}
    cpu: dict[str, list[float]] = {name: [] for name in runs}  # the VM is shared: CPU time says what wall hides
    for rnd in range(8):
        for q in QUERIES:
            for name, call in (("search", lambda q=q: catalog.search(q, limit=20)),
                               ("find", lambda q=q: find.find(catalog, q)),
                               ("find_filtered", lambda q=q: find.find(
                                   catalog, q, find.Filters(fonds="P_UBND_DN", doc_type="02")))):
                t, c = time.perf_counter(), time.process_time()
                call()
                if rnd:  # the first round warms the page cache
                    runs[name].append((time.perf_counter() - t) * 1000)
                    cpu[name].append((time.process_time() - c) * 1000)
    t = time.perf_counter()
    for q in ("", "đất " * 2500):
        find.find(catalog, q)
    odd_ms = (time.perf_counter() - t) * 1000 / 2
    catalog.close()
    out: dict = {"pages": hosos * PAGES_PER_DOC * DOCS_PER_HOSO, "reused_db": reuse}
    for name, values in runs.items():
        out[f"{name}_p50_ms"], out[f"{name}_p95_ms"] = _p(values, 0.5), _p(values, 0.95)
        out[f"{name}_cpu_p50_ms"], out[f"{name}_cpu_p95_ms"] = _p(cpu[name], 0.5), _p(cpu[name], 0.95)
    out["find_over_search_p95"] = round(out["find_p95_ms"] / max(out["search_p95_ms"], 0.01), 2)
    out["empty_or_10k_chars_ms"] = round(odd_ms, 2)
    return out


def main() -> int:
    from bench.bench_sync import _machine

    base = Path(os.environ.get("BENCH_DIR", "/tmp/sohoa-bench"))
    pages = int(os.environ.get("BENCH_ARCHIVE_PAGES", "20000"))
    find_dir = base / f"archive-find-{pages}"
    if not (os.environ.get("BENCH_REUSE") and (find_dir / "catalog.db").is_file()):
        shutil.rmtree(find_dir, ignore_errors=True)
    find_dir.mkdir(parents=True, exist_ok=True)
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    parts = os.environ.get("BENCH_ARCHIVE_PARTS", "viewer,find").split(",")
    viewer = None
    if "viewer" in parts:
        with tempfile.TemporaryDirectory(prefix="sohoa-bench-viewer-") as tmp:
            viewer = _viewer(Path(tmp), int(os.environ.get("BENCH_ARCHIVE_DOC_PAGES", "300")))
    found = _find(find_dir, pages) if "find" in parts else None
    result = {"bench": "archive", "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": _machine(),
              "loadavg_start": load, "viewer": viewer, "find": found,
              "loadavg_end": " ".join(open("/proc/loadavg").read().split()[:3])}
    print(json.dumps(result, ensure_ascii=False, indent=1))
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(find_dir, ignore_errors=True)
    return 0
