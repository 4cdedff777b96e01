"""Page processing: speed on 2 cores against unpaper, and accuracy on labelled and real scans.

Run: `.venv/bin/python -m bench processing`. Env: SOHOA_BENCH_PAGES (mixed set, default 60),
SOHOA_BENCH_TEXT_PAGES (rotation set, default 480), SOHOA_BENCH_CACHE (default /tmp/sohoa-bench-cache: the
generated sets and OCRmyPDF's sdist, never committed), SOHOA_BENCH_REAL=0 to skip the real scans (network once).

1. Speed on the mixed set with 2 spawned workers, one OpenCV thread each (like ProcessingPool), twice:
   a. from PNG files: each worker decodes the capture (what happens after a restart), decode included;
   b. from in-memory frames (the live path): the frame goes to the worker in shared memory, no decode;
      the station-side copy into shared memory is counted too.
   CPU per page is user + system time of the worker and of its children (the Tesseract OSD keeps loaded,
   read from /proc while it runs), plus the station side in (b). Peak RSS per worker is VmHWM from /proc.
2. unpaper (deskew + border removal, filters off) on the same PNGs, 2 processes at a time: pages/min,
   CPU per page and peak RSS from each process's own rusage (wait4), decode and encode included.
3. Accuracy: the mixed set (skew, rotation, blank, QR) and the rotation set (text pages only, every
   quarter turn), both from PNG; then OCRmyPDF's real skewed and rotated scans, page by page.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench.processing_evalset import CACHE, LabelledPage, fetch_real_scans, make_processing_set

WORKERS = 2
IN_FLIGHT = 2 * WORKERS  # like ProcessingPool's slots


def _init() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import cv2

    cv2.setNumThreads(1)


def _live_children_cpu() -> float:
    """CPU seconds of this process's children still running: the Tesseract that OSD keeps loaded
    (station.output.tessworker), whose time rusage only counts once it has exited and been waited for."""
    total = 0.0
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # exited meanwhile: its time is in RUSAGE_CHILDREN once waited for
                continue
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of its children (Tesseract OSD), waited for or not."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + _live_children_cpu()


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _one(path: str, dpi: float, out: str, frame: Any = None) -> dict:
    """One page in a worker, as ProcessingPool's `_work` does it, with its CPU split into decode and steps."""
    from station.processing.pipeline import load_image, process_image

    t0 = _cpu()
    if frame is not None:
        from station.processing.frames import open_frame

        img = open_frame(frame)
    else:
        img = load_image(Path(path))
    t1 = _cpu()
    result = process_image(img, dpi=dpi, out_path=Path(out)).to_dict()
    result["cpu_decode"] = t1 - t0
    result["cpu_process"] = _cpu() - t1
    result["pid"] = os.getpid()
    result["peak_rss_mb"] = _vm_hwm_mb()
    return result


def _warm(_: int) -> int:
    from station.processing import pipeline  # noqa: F401 - import cost outside the clock

    time.sleep(0.2)  # so every worker gets one
    return os.getpid()


def _bounded(pool: ProcessPoolExecutor, jobs: Iterable[Callable[[], Future]]) -> list[dict]:
    """Submit jobs keeping at most IN_FLIGHT in the pool (memory stays bounded, like ProcessingPool)."""
    futures: list[Future] = []
    for job in jobs:
        while sum(not f.done() for f in futures) >= IN_FLIGHT:
            time.sleep(0.002)
        futures.append(job())
    return [f.result() for f in futures]


def _releaser(block: Any) -> Callable[[Future], None]:
    """The done callback that gives a page's shared frame back once its worker has read it."""
    return lambda _: block.release()


def run_pool(pages: list[LabelledPage], out: Path, *, frames: list | None = None) -> dict:
    """Process `pages` with 2 workers from their PNG files, or from `frames` (RGB arrays, as capture holds
    them) through shared memory. Returns results, wall time and the station-side CPU."""
    from station.processing.frames import FrameBlocks, SharedFrame

    shared: list[SharedFrame] = []
    blocks = FrameBlocks(keep=IN_FLIGHT)  # as ProcessingPool reuses them
    copy_cpu = [0.0]
    with ProcessPoolExecutor(WORKERS, mp_context=get_context("spawn"), initializer=_init) as pool:
        list(pool.map(_warm, range(WORKERS)))  # workers up before the clock starts
        station_cpu0, started = time.process_time(), time.monotonic()

        def job(i: int, page: LabelledPage) -> Callable[[], Future]:
            def submit() -> Future:
                block = None
                if frames is not None:  # as ProcessingPool.submit(page_id, frame=...) does
                    t0 = time.process_time()
                    block = SharedFrame(frames[i], blocks=blocks)
                    copy_cpu[0] += time.process_time() - t0
                future = pool.submit(
                    _one, str(page.path), page.dpi, str(out / f"{page.path.stem}.jpg"), block.ref if block else None
                )
                if block is not None:
                    shared.append(block)
                    future.add_done_callback(_releaser(block))
                return future

            return submit

        results = _bounded(pool, (job(i, p) for i, p in enumerate(pages)))
        wall = time.monotonic() - started
        station_cpu = time.process_time() - station_cpu0
    for block in shared:
        block.release()
    blocks.close()
    return {"results": results, "wall": wall, "station_cpu": station_cpu, "copy_cpu": copy_cpu[0]}


# unpaper runs under a fresh small interpreter that reads its rusage with wait4: a child forked straight from
# this process would report this process's RSS (the decoded frames) as its peak, since Linux keeps the
# pre-exec high-water mark in ru_maxrss. The launcher's ~20 ms start-up is counted in unpaper's wall time.
_LAUNCH = (
    "import json, os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "_, status, u = os.wait4(p.pid, 0)\n"
    "err = p.stderr.read().decode(errors='replace')[-300:]\n"
    "print(json.dumps({'rc': os.waitstatus_to_exitcode(status), 'cpu': u.ru_utime + u.ru_stime,"
    " 'rss_kb': u.ru_maxrss, 'err': err}))\n"
)


def _unpaper(path: Path, out: Path) -> dict:
    """One unpaper run, with its own rusage (CPU, peak RSS)."""
    args = [
        "unpaper",
        "--overwrite",
        "--no-blackfilter",
        "--no-noisefilter",
        "--no-blurfilter",
        "--no-grayfilter",
        "--no-mask-scan",
        "--no-mask-center",
        str(path),
        str(out),
    ]
    done = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCH, *args], capture_output=True, text=True, timeout=300, check=True
    )
    run = json.loads(done.stdout)
    if run["rc"]:
        raise RuntimeError(f"unpaper failed on {path.name} ({run['rc']}): {run['err']}")
    return {"cpu": run["cpu"], "rss_mb": run["rss_kb"] / 1024}


def run_unpaper(pages: list[LabelledPage], out: Path) -> dict:
    assert shutil.which("unpaper"), "unpaper missing: apt-get install unpaper"
    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:  # each thread waits on one unpaper process
        runs = list(pool.map(lambda p: _unpaper(p.path, out / f"{p.path.stem}.ppm"), pages))
    return {
        "wall": time.monotonic() - started,
        "cpu": statistics.mean(r["cpu"] for r in runs),
        "rss_mb": max(r["rss_mb"] for r in runs),
    }


def evaluate(pages: list[LabelledPage], results: list[dict]) -> dict:
    skew_err: list[float] = []
    rot_ok = rot_n = 0
    methods: dict[str, int] = {}
    by_turn: dict[int, list[int]] = {}
    blanks = found_blank = false_blank = qr_n = qr_ok = sheets_turned = 0
    wrong = []
    for page, r in zip(pages, results, strict=True):
        if page.kind == "text":
            skew_err.append(abs(r["angle"] - page.skew_deg))
            rot_n += 1
            methods[r["rotation_method"]] = methods.get(r["rotation_method"], 0) + 1
            ok = r["rotation"] == page.fix_rotation
            rot_ok += ok
            seen = by_turn.setdefault(page.turn, [0, 0])
            seen[0] += ok
            seen[1] += 1
            if not ok:
                wrong.append(
                    f"{page.path.name}: rotation {r['rotation']} ({r['rotation_method']}, "
                    f"confidence {r['rotation_confidence']}), want {page.fix_rotation}"
                )
        if page.kind == "blank":
            blanks += 1
            found_blank += r["blank"]
        elif r["blank"]:
            false_blank += 1
            wrong.append(f"{page.path.name}: called blank (score {r['blank_score']})")
        if page.payload:
            qr_n += 1
            if page.payload in r["qr"] and (r["separator"] or r["cover"]):
                qr_ok += 1
            else:
                wrong.append(f"{page.path.name}: QR {r['qr']}, want {page.payload}")
            sheets_turned += r["rotation"] == page.fix_rotation
            if r["rotation"] != page.fix_rotation:
                wrong.append(
                    f"{page.path.name}: sheet turned {r['rotation']} ({r['rotation_method']}), want {page.fix_rotation}"
                )
    skew_err.sort()
    p95 = skew_err[min(len(skew_err) - 1, round(0.95 * (len(skew_err) - 1)))] if skew_err else float("nan")
    return {
        "skew_median": statistics.median(skew_err) if skew_err else float("nan"),
        "skew_p95": p95,
        "skew_max": max(skew_err, default=float("nan")),
        "text_pages": rot_n,
        "rotation_ok": rot_ok,
        "methods": methods,
        "by_turn": dict(sorted(by_turn.items())),
        "blanks": blanks,
        "blank_found": found_blank,
        "false_blanks": false_blank,
        "qr_pages": qr_n,
        "qr_found": qr_ok,
        "sheets_turned": sheets_turned,
        "wrong": wrong,
    }


def _print_accuracy(title: str, acc: dict) -> None:
    n = acc["text_pages"]
    print(
        f"{title}: skew error median {acc['skew_median']:.3f}°, p95 {acc['skew_p95']:.3f}°, "
        f"max {acc['skew_max']:.3f}° over {n} text pages"
    )
    share = 100.0 * acc["rotation_ok"] / n if n else float("nan")
    turns = ", ".join(f"{t}°: {ok}/{k}" for t, (ok, k) in acc["by_turn"].items())
    print(
        f"{title}: rotation {acc['rotation_ok']}/{n} right ({share:.2f}%); by turn as scanned {turns}; "
        f"decided by {acc['methods']}"
    )
    if acc["blanks"] or acc["false_blanks"]:
        print(
            f"{title}: blank {acc['blank_found']}/{acc['blanks']} found, {acc['false_blanks']} content pages "
            "called blank"
        )
    if acc["qr_pages"]:
        print(
            f"{title}: QR sheets {acc['qr_found']}/{acc['qr_pages']} found and recognised, "
            f"{acc['sheets_turned']}/{acc['qr_pages']} turned upright"
        )
    for line in acc["wrong"]:
        print("  miss:", line)


def _speed_line(label: str, run: dict, n: int) -> dict:
    rs = run["results"]
    decode = statistics.mean(r["cpu_decode"] for r in rs)
    steps = statistics.mean(r["cpu_process"] for r in rs)
    station = run["station_cpu"] / n  # the copy into shared memory, and submitting (the bench's own polling)
    copy = run["copy_cpu"] / n
    cpu = decode + steps + station
    peaks: dict[int, float] = {}
    for r in rs:
        peaks[r["pid"]] = max(peaks.get(r["pid"], 0.0), r["peak_rss_mb"])
    print(
        f"{label}: {n / run['wall'] * 60:.0f} pages/min wall ({run['wall'] / n:.3f} s/page, {WORKERS} workers); "
        f"CPU per page {cpu:.3f} s = decode {decode:.3f} + steps {steps:.3f} + station side {station:.3f} "
        f"(of which the copy into shared memory {copy:.3f}) "
        f"-> {WORKERS * 60 / cpu:.0f} pages/min on {WORKERS} idle cores; "
        f"peak RSS per worker {', '.join(f'{v:.0f}' for v in sorted(peaks.values()))} MB"
    )
    return {"cpu": cpu, "wall": run["wall"]}


def _cpu_by_kind(pages: list[LabelledPage], results: list[dict]) -> str:
    kinds: dict[str, list[float]] = {}
    for p, r in zip(pages, results, strict=True):
        kinds.setdefault(p.kind, []).append(r["cpu_process"])
    return ", ".join(f"{k} {statistics.mean(v):.3f} s (n={len(v)})" for k, v in sorted(kinds.items()))


def real_scans(out: Path) -> int:
    try:
        pages = fetch_real_scans(CACHE)
    except Exception as exc:  # noqa: BLE001 - no network: say so, the rest of the bench stands
        print(f"real scans: not available ({exc}); needs network once (pip download ocrmypdf sdist)")
        return 1
    from station.processing.pipeline import process_page

    print(f"real scans: OCRmyPDF {pages[0].path.parent.name.split('-')[-1]} tests/resources, pdftoppm -r 300")
    ok = 0
    for p in pages:
        r = process_page(p.path, dpi=300, out_path=out / f"{p.path.stem}.jpg")
        right = r.rotation == p.fix_rotation
        ok += right
        skew = "unknown" if p.skew_deg is None else f"{p.skew_deg:+.3f}°"
        err = "" if p.skew_deg is None else f" (error {abs(r.angle - p.skew_deg):.3f}°)"
        print(
            f"  {p.source:22s} skew truth {skew:>9s} found {r.angle:+.3f}°{err}; rotation truth "
            f"{p.fix_rotation:3d} found {r.rotation:3d} ({r.rotation_method}) {'ok' if right else 'WRONG'}"
        )
    print(f"real scans: rotation {ok}/{len(pages)} right")
    return 0


def main() -> int:
    count = int(os.environ.get("SOHOA_BENCH_PAGES", "60"))
    text_count = int(os.environ.get("SOHOA_BENCH_TEXT_PAGES", "480"))
    t = time.monotonic()
    pages = make_processing_set(CACHE / f"processing-mixed-{count}", count=count)
    text_pages = make_processing_set(CACHE / f"processing-text-{text_count}", count=text_count, mix="text")
    print(
        f"sets: {len(pages)} mixed + {len(text_pages)} text pages, A4 300 dpi colour, in {CACHE} "
        f"({time.monotonic() - t:.0f} s to make or find)"
    )
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus; {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    n = len(pages)
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        import cv2

        from station.processing.pipeline import load_image

        files = run_pool(pages, out)
        frames = [cv2.cvtColor(load_image(p.path), cv2.COLOR_BGR2RGB) for p in pages]  # as capture holds them
        memory = run_pool(pages, out, frames=frames)
        del frames
        unpaper = run_unpaper(pages, out)
        print(f"load average after speed runs: {Path('/proc/loadavg').read_text().strip()}")
        a = _speed_line("sohoa, from PNG files (decode included)", files, n)
        b = _speed_line("sohoa, from in-memory frames (live path, no decode)", memory, n)
        print(f"  CPU per page of the steps by kind: {_cpu_by_kind(pages, memory['results'])}")
        print(
            f"unpaper, deskew + borders, {WORKERS} at a time (PNG decode and PPM write included): "
            f"{n / unpaper['wall'] * 60:.0f} pages/min wall; CPU per page {unpaper['cpu']:.3f} s "
            f"-> {WORKERS * 60 / unpaper['cpu']:.0f} pages/min on {WORKERS} idle cores; "
            f"peak RSS {unpaper['rss_mb']:.0f} MB per process"
        )
        print(
            f"ratio sohoa/unpaper, pages per CPU second: from PNG {unpaper['cpu'] / a['cpu']:.1f}x, "
            f"in memory {unpaper['cpu'] / b['cpu']:.1f}x; wall clock (same run): from PNG "
            f"{unpaper['wall'] / a['wall']:.1f}x, in memory {unpaper['wall'] / b['wall']:.1f}x"
        )
        target = b["cpu"] <= WORKERS * 60 / 600
        print(
            f"target 600 pages/min on 2 cores (≤ 0.2 s CPU per page, live path): "
            f"{'met' if target else 'NOT met'} ({WORKERS * 60 / b['cpu']:.0f} pages/min from CPU time)"
        )
        same = all(
            x["derivative_sha256"] == y["derivative_sha256"]
            for x, y in zip(files["results"], memory["results"], strict=True)
        )
        print(f"derivatives from frames identical to those from files: {same}")
        _print_accuracy("mixed set", evaluate(pages, files["results"]))
        text = run_pool(text_pages, out)
        acc = evaluate(text_pages, text["results"])
        _print_accuracy("rotation set", acc)
        if os.environ.get("SOHOA_BENCH_REAL", "1") != "0":
            status |= real_scans(out)
    return status
