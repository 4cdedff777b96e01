"""Capture: per-page cost of `sohoa scan` against `scanimage --batch`, and pages kept per minute with a slow
simulated scanner while the processing pool works on the same machine.

Same device (SANE test backend, test:0), same settings for both: ADF, Color, 8 bit, 300 dpi, A4
(0,0)-(210,297) mm, test picture "Color pattern", reads limited to 32 KB (read-limit) so that both
frontends make the same number of sane_read calls and a read delay costs both the same.
Fair pairs: scanimage PNG vs ours PNG (lossless both), scanimage PNM vs ours uncompressed TIFF (raw both).
Ours also fsyncs every page, its folder and the journal row; scanimage fsyncs nothing.

libsane runs in one child process per scanner (station/capture/sane_worker.py): the transfer section
measures what a frame costs to get from the child into the station (A4 300 dpi colour, 26 MB): the child
reads it straight into a shared memfd, the station copies it out once. Every timing comes with the CPU
time spent (this process, plus children for whole commands) and the load average, since the machine is
shared.

Env: SOHOA_BENCH_REPEAT (default 2, best run kept), SOHOA_BENCH_DELAY_US (default 10000 µs of read delay,
about 1.4 s per A4 page like a 40 ppm ADF scanner), SOHOA_BENCH_RUNS (ADF loads of 10 sheets with the pool, default 2).
Writes its section of docs/bench/capture.md.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bench" / "capture.md"
PAGES = 10  # the test backend's feeder holds 10 sheets per open
READ_LIMIT = 32768
SETTINGS: dict[str, object] = {"test-picture": "Color pattern", "read-limit": True, "read-limit-size": READ_LIMIT}


def _delay_options(delay_us: int) -> dict[str, object]:
    return {"read-delay": True, "read-delay-duration": delay_us} if delay_us else {}


def _text(value: object, true: str) -> str:
    return true if value is True else str(value)


def steady(files: list[Path]) -> float:
    """Seconds between consecutive finished pages (file mtimes), first to last: the per-page rate once the
    scanner runs, without start-up, device open and the first page's latency."""
    times = sorted(f.stat().st_mtime_ns for f in files)
    return (times[-1] - times[0]) / 1e9 / (len(times) - 1)


def children_cpu() -> float:
    """CPU seconds (user + system) of every child this process has waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU: dict[str, list[float]] = {}  # label -> CPU seconds per page of each run (whole command, children included)


def scanimage(out: Path, fmt: str, delay_us: int) -> tuple[float, float]:
    """(whole command, steady) seconds per page of `scanimage --batch` (init, open, scan, write)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    options = {**SETTINGS, **_delay_options(delay_us)}
    cmd = ["scanimage", "-d", "test:0", "--source", "Automatic Document Feeder", "--mode", "Color",
           "--depth", "8", "--resolution", "300", "-l", "0", "-t", "0", "-x", "210", "-y", "297",
           f"--batch={out}/p%03d.{fmt}", f"--format={fmt}"]
    cmd += [f"--{k}={_text(v, 'yes')}" for k, v in options.items()]
    started, cpu = time.monotonic(), children_cpu()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    CPU.setdefault(f"scanimage {fmt}, read delay {delay_us} µs", []).append((children_cpu() - cpu) / PAGES)
    files = list(out.iterdir())
    if len(files) != PAGES:
        raise RuntimeError(f"scanimage wrote {len(files)} pages, not {PAGES}: {done.stderr[-500:]}")
    return seconds / PAGES, steady(files)


def ours(out: Path, fmt: str, delay_us: int) -> tuple[float, float]:
    """Seconds per page of `sohoa scan` (the capture CLI: open, scan, encode, fsync, journal), as it
    reports them (Python start-up and SANE init excluded; scanimage's include them, ~0.05 s)."""
    shutil.rmtree(out, ignore_errors=True)
    options = {**SETTINGS, **_delay_options(delay_us)}
    cmd = [sys.executable, "-m", "station.capture.cli", "scan", "--sane-backends", "test", "--device", "test:0",
           "--source", "adf", "--batch", str(out), "--format", fmt, "--min-free-mb", "100"]
    cmd += [f"--option={k}={_text(v, 'true')}" for k, v in options.items()]
    cpu = children_cpu()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    # the SANE worker included: the CLI reaped it
    CPU.setdefault(f"ours {fmt}, read delay {delay_us} µs", []).append((children_cpu() - cpu) / PAGES)
    match = re.search(r"ended=(\w+) pages=(\d+) .*seconds=([\d.]+)", done.stdout)
    if done.returncode != 0 or not match or int(match.group(2)) != PAGES:
        raise RuntimeError(f"sohoa scan failed ({done.returncode}): {done.stdout[-300:]} {done.stderr[-800:]}")
    files = [f for f in (out / "pages").rglob("*") if f.is_file()]
    return float(match.group(3)) / PAGES, steady(files)


IN_PROCESS = """
import json, os, sys, time
import sane
sane.init()
dev = sane.open("test:0")
for name, value in (("source", "Automatic Document Feeder"), ("mode", "Color"), ("depth", 8), ("resolution", 300),
                    ("tl_x", 0.0), ("tl_y", 0.0), ("br_x", 210.0), ("br_y", 297.0), ("test_picture", "Color pattern")):
    setattr(dev, name, value)
times = []
for _ in range(int(sys.argv[1])):
    started, cpu = time.perf_counter(), time.process_time()
    dev.start()
    dev.dev.snap(True, True, None)
    times.append((time.perf_counter() - started, time.process_time() - cpu))
dev.cancel()
dev.close()
print(json.dumps(times))
"""


def transfer(frames: int = PAGES) -> dict[str, float]:
    """Per frame: the old in-process path (python-sane start + snap) against the child: from 'next' to the
    frame's header (start + sane_read into the memfd), and the station's copy out of the memfd."""
    import statistics

    from station.capture.profiles import profile_for
    from station.capture.sane_link import Link
    from station.capture.source import ScanRequest

    done = subprocess.run([sys.executable, "-c", IN_PROCESS, str(frames)], capture_output=True, text=True,
                          timeout=600, check=True)
    inproc = json.loads(done.stdout)
    worker_cpu = children_cpu()
    link = Link("test:0")
    child_wall, copy_wall, copy_cpu = [], [], []
    try:
        extra = {"test-picture": "Color pattern"}
        ready = link.call({"op": "open", "device": "test:0", "profile": profile_for("test:0"), "extra": extra,
                           "request": ScanRequest(source="adf")}, 60)
        assert ready["kind"] == "ready", ready
        for _ in range(frames):
            started = time.perf_counter()
            header = link.call({"op": "next"}, 60)
            got = time.perf_counter()
            cpu = time.process_time()
            image = link.image(header)
            copy_wall.append(time.perf_counter() - got)
            copy_cpu.append(time.process_time() - cpu)
            child_wall.append(got - started)
            assert image.shape == (3507, 2480, 3), image.shape
    finally:
        link.close(5)
    worker_cpu = (children_cpu() - worker_cpu) / frames  # the worker was reaped by close()
    median = statistics.median
    return {"frames": frames, "inproc_s": median(t[0] for t in inproc), "inproc_cpu_s": median(t[1] for t in inproc),
            "child_s": median(child_wall), "copy_s": median(copy_wall), "copy_cpu_s": median(copy_cpu),
            "worker_cpu_s": worker_cpu, "mb": 3507 * 2480 * 3 / 1e6}


def best(fn, *args, repeat: int) -> tuple[float, float]:
    results = [fn(*args) for _ in range(repeat)]
    return min(r[0] for r in results), min(r[1] for r in results)


def with_pool(work: Path, delay_us: int, runs: int, *, use_pool: bool = True) -> dict[str, float]:
    """Capture `runs` ADF loads into one batch while a real ProcessingPool (2 workers) processes every
    page as it is journalled, as the station does. Returns capture and processing rates."""
    from station.capture.journal import Journal
    from station.capture.sane_source import SaneSource
    from station.capture.service import CaptureService
    from station.capture.source import ScanRequest
    from station.processing.worker import ProcessingPool
    from station.store import Store

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    store = Store(work / "station.db")
    journal = Journal(store, work, min_free_mb=100)
    batch = int(store.create_batch(file_code="BENCH.CAPTURE", record={}, expected_sheets=None,
                                   work_order_id=None, operator="bench")["id"])
    pool = ProcessingPool(store, work, workers=2)
    if use_pool:
        pool.start()
    service = CaptureService(store, journal)
    times: list[float] = []
    lock = threading.Lock()

    def on_page(row: dict) -> None:
        with lock:
            times.append(time.monotonic())
        if use_pool:
            pool.submit(int(row["id"]))

    service.add_listener(on_page=on_page)
    source = SaneSource("test:0", options={**SETTINGS, **_delay_options(delay_us)})
    started = time.monotonic()
    pages = 0
    for _ in range(runs):
        service.start(batch, source, ScanRequest(source="adf"), actor="bench")
        outcome = service.wait("test:0", timeout=900)
        pages += outcome.pages if outcome else 0
    captured = time.monotonic() - started
    counted = store.one("SELECT COUNT(processed_at) AS n FROM pages WHERE batch_id = ?", (batch,))
    processed_then = counted["n"] if counted else 0
    if use_pool:
        pool.drain(timeout=1800)
    processed = time.monotonic() - started
    pool.stop()
    service.close()
    return {"pages": pages, "capture_s": captured, "capture_ppm": pages / captured * 60,
            "processed_when_capture_ended": processed_then, "all_processed_s": processed,
            "processing_ppm": pages / processed * 60}


def _pair(value: tuple[float, float]) -> str:
    return f"{value[0]:.3f} / {value[1]:.3f} s"


def _ratio(a: tuple[float, float], b: tuple[float, float]) -> str:
    return f"{a[0] / b[0]:.2f}× / {a[1] / b[1]:.2f}×"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()},"
            f" load average {load}")


def write_section(text: str) -> None:
    start, end = "<!-- bench:capture -->", "<!-- /bench:capture -->"
    body = DOC.read_text() if DOC.exists() else "# Capture benchmark\n\n"
    block = f"{start}\n{text.rstrip()}\n{end}"
    # The markers count only at the start of a line: the page's prose may quote them.
    first, last = body.find("\n" + start), body.find("\n" + end)
    if first >= 0 and last > first:
        body = body[:first + 1] + block + body[last + 1 + len(end):]
    else:
        body = body.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(body)


def main() -> int:
    from station.capture.saneenv import prepare_sane_config

    repeat = int(os.environ.get("SOHOA_BENCH_REPEAT", "2"))
    delay_us = int(os.environ.get("SOHOA_BENCH_DELAY_US", "10000"))  # ~1.4 s per A4 page, ~43 pages/min
    runs = int(os.environ.get("SOHOA_BENCH_RUNS", "2"))
    if shutil.which("scanimage") is None:
        print("scanimage is missing: apt install sane-utils", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="sohoa-bench-capture-"))
    prepare_sane_config(tmp / "sane", backends=("test",))  # sets SANE_CONFIG_DIR for us and the children
    load_before = machine()
    rows = []
    try:
        for label, delay in (("fast scanner (no read delay)", 0), (f"slow scanner ({delay_us} µs read delay)",
                                                                  delay_us)):
            si_raw = best(scanimage, tmp / "si", "pnm", delay, repeat=repeat)
            us_raw = best(ours, tmp / "us", "tiff", delay, repeat=repeat)
            si_png = best(scanimage, tmp / "si", "png", delay, repeat=repeat)
            us_png = best(ours, tmp / "us", "png", delay, repeat=repeat)
            rows.append((label, si_raw, us_raw, si_png, us_png))
            print(f"{label}: whole run / steady s per page: scanimage pnm {_pair(si_raw)}, ours tiff"
                  f" {_pair(us_raw)} ({_ratio(us_raw, si_raw)}); scanimage png {_pair(si_png)}, ours png"
                  f" {_pair(us_png)} ({_ratio(us_png, si_png)}); ours png / scanimage pnm {_ratio(us_png, si_raw)}",
                  flush=True)
        moved = transfer()
        print(f"transfer: {moved}", flush=True)
        alone = with_pool(tmp / "alone", delay_us, runs, use_pool=False)
        print(f"same harness, no processing: {alone}", flush=True)
        pool = with_pool(tmp / "pool", delay_us, runs)
        print(f"with processing pool: {pool}", flush=True)
    finally:
        load_after = machine()
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        "## Capture overhead and pages kept per minute (`python -m bench capture`)",
        "",
        f"Run {datetime.now().astimezone().isoformat(timespec='minutes')}; machine: {load_before} at the start,"
        f" {load_after.split('load average ')[-1]} at the end. Best of {repeat} runs of {PAGES} pages each;"
        " SANE test backend, ADF, Color 8 bit, 300 dpi, A4, 'Color pattern', 32 KB reads.",
        "",
        "Each cell: whole run per page / steady per page (between finished pages, from file times);"
        " ratios ours / scanimage, whole / steady.",
        "",
        "| scanner | scanimage PNM | ours TIFF (raw) | raw ratio | scanimage PNG | ours PNG | PNG ratio |"
        " ours PNG / scanimage PNM |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, si_raw, us_raw, si_png, us_png in rows:
        lines.append(f"| {label} | {_pair(si_raw)} | {_pair(us_raw)} | {_ratio(us_raw, si_raw)} | {_pair(si_png)} |"
                     f" {_pair(us_png)} | {_ratio(us_png, si_png)} | {_ratio(us_png, si_raw)} |")
    lines += [
        "",
        "CPU seconds per page (whole command, its children included: for ours the SANE worker; best run):",
        "",
        "| run | CPU s/page |",
        "|---|---|",
    ]
    lines += [f"| {label} | {min(values):.3f} |" for label, values in sorted(CPU.items())]
    lines += [
        "",
        f"Frame transfer, median of {moved['frames']} A4 300 dpi colour frames ({moved['mb']:.0f} MB each):"
        f" in-process python-sane start + snap {moved['inproc_s'] * 1000:.0f} ms"
        f" ({moved['inproc_cpu_s'] * 1000:.0f} ms CPU); through the child, 'next' to frame header"
        f" {moved['child_s'] * 1000:.0f} ms, then the station's copy out of the shared memfd"
        f" {moved['copy_s'] * 1000:.1f} ms ({moved['copy_cpu_s'] * 1000:.1f} ms CPU); the worker's CPU per frame,"
        f" its start-up and sane_init included, {moved['worker_cpu_s'] * 1000:.0f} ms. Child total"
        f" {(moved['child_s'] + moved['copy_s']) * 1000:.0f} ms against {moved['inproc_s'] * 1000:.0f} ms in process.",
        "",
        f"With the processing pool (2 workers, real Store) running while the slow scanner feeds {pool['pages']}"
        f" pages: capture {pool['capture_ppm']:.1f} pages/min ({pool['capture_s'] / pool['pages']:.3f} s/page"
        f" against {alone['capture_s'] / alone['pages']:.3f} s/page, {alone['capture_ppm']:.1f} pages/min, in the"
        f" same harness without the pool); {pool['processed_when_capture_ended']} pages"
        f" processed when capture ended; all processed after {pool['all_processed_s']:.0f} s"
        f" ({pool['processing_ppm']:.1f} pages/min).",
    ]
    write_section("\n".join(lines))
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0
