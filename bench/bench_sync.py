"""End-to-end sync of one large hồ sơ over loopback: upload, every check (PDF/A, signatures, fixity,
schemas, ...), atomic store with its backup copy, catalogue with text extraction. Reports MB/s and the
ratio to `cp` + `sync` + `sha256sum` of the same bytes (the least any archive must do with them), measured
right after in the same run, and the load average around it (the VM's cores are shared).

BENCH_SYNC_MB (default 200) sets the package size; BENCH_DIR (default /tmp/sohoa-bench) keeps the built
package between runs, since building it (real signed PDF/A pages) takes longer than syncing it.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

AGENCY = "Ủy ban nhân dân tỉnh Đồng Nai"
PAGES_PER_DOC = 50
CHUNK = 8 * 1024 * 1024


def _machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()} {cpu} x{os.cpu_count()} {platform.system()} {platform.release()}"


def build_big_package(work: Path, target_mb: int):
    """A real AIP of ~target_mb: signed PDF/A documents of PAGES_PER_DOC pages each (a few OCRed page
    images repeated, each page its own image stream)."""
    from protocol.clock import iso_vn, now_vn
    from protocol.metadata import DocumentRecord, FileRecord
    from protocol.package import PackageDocument, PremisEvent, build_package
    from protocol.pdftext import pdf_text
    from sohoa.samplepages import write_sample_folder
    from station.output.keys import ensure_demo_ca
    from station.output.ocr import ocr_page
    from station.output.pdfa import PdfMeta, PdfPage, build_pdfa
    from station.output.signing import Signer

    keys = ensure_demo_ca(work / "keys", agency_name=AGENCY)
    signer = Signer.from_pkcs12(keys.agency_p12, keys.passphrase)
    images = write_sample_folder(work / "img", count=4, seed=11, dpi=300)
    pages = [PdfPage(image_path=p, dpi=300, text_pdf=ocr_page(p, dpi=300).text_pdf) for p in images]
    hoso = FileRecord(agency_id="000.00.00.H47", year=2001, notation="BENCH.VP",
                      title="Hồ sơ đo đạc địa chính xã Phước Thiền (đo hiệu năng)", maintenance="01",
                      mode="01", language="01", start_date="04/03/2001", end_date="28/12/2001",
                      number_of_paper=1, paper_file_code="TTLT.K1-BENCH", fonds_code="P_UBND_DN",
                      agency_name=AGENCY)
    docs, size, ordinal = [], 0, 0
    while size < target_mb * 1024 * 1024:
        ordinal += 1
        rec = DocumentRecord(ordinal=ordinal, type_name="02", issued_date="04/03/2001", organ_name=AGENCY,
                             subject=f"Quyết định giao đất số {ordinal}", number_of_page=PAGES_PER_DOC)
        unsigned, signed = work / f"doc-{ordinal}.unsigned.pdf", work / f"doc-{ordinal}.pdf"
        doc_pages = [pages[(ordinal + i) % len(pages)] for i in range(PAGES_PER_DOC)]
        build_pdfa(doc_pages, out=unsigned,
                   meta=PdfMeta(title=rec.subject, doc_id=rec.doc_id(hoso.file_code),
                                doc_code=rec.doc_code(hoso.file_code), agency=AGENCY, created=now_vn()))
        signer.sign(unsigned, signed, agency_name=AGENCY)
        unsigned.unlink()
        size += signed.stat().st_size
        # the text layer packed as the station packs it (station.finishing._text_layer)
        docs.append(PackageDocument(record=rec, pdf_path=signed, page_count=PAGES_PER_DOC, text=pdf_text(signed)))
    hoso.number_of_paper = PAGES_PER_DOC * len(docs)
    built = build_package(hoso=hoso, documents=docs, out_dir=work / "out",
                          events=[PremisEvent(event_type="transfer", at=iso_vn(), agent="person:bench",
                                              detail="digitisation", objects=[])])
    for d in docs:
        Path(d.pdf_path).unlink()
    return built, keys, hoso.number_of_paper


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + sys) of a process, its children (the check workers) and the children they waited
    for (pdftotext), read from /proc while they run."""
    pids = [pid]
    try:
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def _baseline(path: Path, scratch: Path) -> float:
    """Seconds for `cp` then `sha256sum` of the package (same file system as the store)."""
    dest = scratch / "copy.zip"
    started = time.perf_counter()
    subprocess.run(["cp", str(path), str(dest)], check=True)
    subprocess.run(["sync", "-f", str(dest)], check=True)  # the store fsyncs too: compare like with like
    subprocess.run(["sha256sum", str(dest)], check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    dest.unlink()
    return elapsed


def main() -> int:
    import requests

    from server.records.db import ServerDB
    from station.sync.client import SyncClient

    target = int(os.environ.get("BENCH_SYNC_MB", "200"))
    base = Path(os.environ.get("BENCH_DIR", "/tmp/sohoa-bench")) / f"sync-{target}"
    cache = base / "package.json"
    if cache.is_file() and Path(json.loads(cache.read_text())["path"]).is_file():
        meta = json.loads(cache.read_text())
        print(f"reusing {meta['path']}", flush=True)
    else:
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        started = time.perf_counter()
        built, keys, sheets = build_big_package(base, target)
        meta = {"path": str(built.path), "sha256": built.sha256, "size": built.size, "ca": str(keys.ca_pem),
                "sheets": sheets}
        cache.write_text(json.dumps(meta))
        print(f"built {built.size / 1e6:.0f} MB package in {time.perf_counter() - started:.0f} s", flush=True)
    pkg, size = Path(meta["path"]), meta["size"]
    server_dir = base / "server"
    shutil.rmtree(server_dir, ignore_errors=True)
    server_dir.mkdir()
    (server_dir / "data").mkdir()
    creds = ServerDB(server_dir / "data" / "server.db").add_station("bench")
    port = 18000 + os.getpid() % 1000
    config = server_dir / "server.toml"
    config.write_text(f'data_dir = "{server_dir / "data"}"\nport = {port}\ntrust_roots = ["{meta["ca"]}"]\n'
                      f'backup_dir = "{server_dir / "backup"}"\n')
    with open(server_dir / "server.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "sohoa.cli", "server", "--config", str(config)],
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.get(url + "/api/v1/health", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        client = SyncClient(url, station_id="bench", token=creds["token"], timeout=3600, chunk_size=CHUNK)
        commit_times: list[float] = []
        upload_cpu: list[float] = []  # the server's CPU after each chunk: the last one ends the upload

        def hook(r: requests.Response, *a: object, **k: object) -> None:
            if r.request.url and r.request.url.endswith("/commit"):
                commit_times.append(r.elapsed.total_seconds())
            elif r.request.method == "PUT":
                upload_cpu.append(_tree_cpu(proc.pid))

        client.session.hooks["response"].append(hook)
        load_before = os.getloadavg()[0]
        cpu_before, client_before = _tree_cpu(proc.pid), time.process_time()
        started = time.perf_counter()
        receipt = client.send(pkg, sha256=meta["sha256"], size=size,
                              manifest={"expected_sheets": meta["sheets"]})
        total = time.perf_counter() - started
        cpu_after, client_cpu = _tree_cpu(proc.pid), time.process_time() - client_before
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if receipt.verdict != "accepted":
        print(f"package rejected: {receipt.reasons}", file=sys.stderr)
        return 1
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    baseline = _baseline(pkg, server_dir / "data")
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    baseline_cpu = (children_after.ru_utime + children_after.ru_stime
                    - children_before.ru_utime - children_before.ru_stime)
    commit = commit_times[-1] if commit_times else float("nan")
    mb = size / 1e6
    result = {
        "bench": "sync", "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": _machine(),
        "package_mb": round(mb, 1), "pages": meta["sheets"],
        "end_to_end_s": round(total, 2), "upload_s": round(total - commit, 2), "commit_s": round(commit, 2),
        "mb_per_s": round(mb / total, 1),
        # CPU (user + sys): the server with its check workers and pdftotext, and this process (the station's
        # client, which hashes and sends each chunk); the baseline's CPU is cp's, sync's and sha256sum's
        "server_cpu_upload_s": round(upload_cpu[-1] - cpu_before, 2) if upload_cpu else None,
        "server_cpu_commit_s": round(cpu_after - upload_cpu[-1], 2) if upload_cpu else None,
        "client_cpu_s": round(client_cpu, 2), "cp_sha256sum_cpu_s": round(baseline_cpu, 2),
        "cp_sha256sum_s": round(baseline, 2),
        "ratio_to_cp_sha256sum": round(total / baseline, 2),
        "share_of_cp_sha256sum": f"{100 * baseline / total:.0f}%",  # the goal of #15: >= 50%
        "load_1min_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        # documents whose PDF work ran while the upload arrived (server.ingest.early), from the server's log
        "pdf_jobs_while_uploading": _early_jobs(server_dir / "server.log"),
    }
    print(json.dumps(result, ensure_ascii=False))
    shutil.rmtree(server_dir, ignore_errors=True)
    return 0


def _early_jobs(log: Path) -> int | None:
    import re

    found = re.findall(r"(\d+) PDF jobs done while it arrived", log.read_text(errors="replace"))
    return int(found[-1]) if found else None


if __name__ == "__main__":
    sys.exit(main())
