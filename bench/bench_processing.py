"""Page processing: accuracy on the labelled set and speed on 2 cores with the pool, against unpaper.

Env: SOHOA_BENCH_PAGES (default 60), SOHOA_BENCH_DIR (default /tmp/sohoa-bench-processing).
Speed is wall time over all pages with 2 spawned workers (like ProcessingPool), PNG decode included;
also the CPU seconds per page of `process_image` alone (decode excluded), measured in the workers.
unpaper does deskew and border removal (filters off) on the same PNGs, 2 processes at a time.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from bench.processing_evalset import LabelledPage, make_processing_set

WORKERS = 2


def _init() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import cv2

    cv2.setNumThreads(1)


def _one(path: str, dpi: float, out: str) -> dict:
    from station.processing.pipeline import load_image, process_image

    t0 = time.process_time()
    img = load_image(Path(path))
    t1 = time.process_time()
    result = process_image(img, dpi=dpi, out_path=Path(out)).to_dict()
    result["cpu_decode"] = t1 - t0
    result["cpu_process"] = time.process_time() - t1
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _warm(_: int) -> int:
    from station.processing import pipeline  # noqa: F401 - import cost outside the clock

    return os.getpid()


def run_pool(pages: list[LabelledPage], out: Path) -> tuple[list[dict], float, float]:
    with ProcessPoolExecutor(WORKERS, mp_context=get_context("spawn"), initializer=_init) as pool:
        list(pool.map(_warm, range(WORKERS * 2)))  # workers up before the clock starts
        started = time.monotonic()
        futures = [pool.submit(_one, str(p.path), p.dpi, str(out / (p.path.stem + ".jpg"))) for p in pages]
        results = [f.result() for f in futures]
        wall = time.monotonic() - started
    return results, wall, max(r["peak_rss_mb"] for r in results)


def _unpaper(path: Path, out: Path) -> None:
    subprocess.run(["unpaper", "--overwrite", "--no-blackfilter", "--no-noisefilter", "--no-blurfilter",
                    "--no-grayfilter", "--no-mask-scan", "--no-mask-center", str(path), str(out)],
                   check=True, capture_output=True, timeout=300)


def run_unpaper(pages: list[LabelledPage], out: Path) -> tuple[float, float]:
    assert shutil.which("unpaper"), "unpaper missing: apt-get install unpaper"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:  # each thread waits on one unpaper process
        list(pool.map(lambda p: _unpaper(p.path, out / (p.path.stem + ".ppm")), pages))
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_maxrss / 1024 if after.ru_maxrss else before.ru_maxrss / 1024


def _angle_error(found: float, truth: float) -> float:
    return abs(found - truth)


def evaluate(pages: list[LabelledPage], results: list[dict]) -> dict:
    skew_err, rot_ok, rot_n, methods = [], 0, 0, {}
    blanks = found_blank = false_blank = qr_n = qr_ok = 0
    wrong = []
    for page, r in zip(pages, results, strict=True):
        if page.kind == "text":
            skew_err.append(_angle_error(r["angle"], page.skew_deg))
            rot_n += 1
            methods[r["rotation_method"]] = methods.get(r["rotation_method"], 0) + 1
            if r["rotation"] == page.fix_rotation:
                rot_ok += 1
            else:
                wrong.append(f"{page.path.name}: rotation {r['rotation']} ({r['rotation_method']}), "
                             f"want {page.fix_rotation}")
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
    skew_err.sort()
    p95 = skew_err[min(len(skew_err) - 1, round(0.95 * (len(skew_err) - 1)))] if skew_err else float("nan")
    return {"skew_median": statistics.median(skew_err) if skew_err else float("nan"), "skew_p95": p95,
            "skew_max": max(skew_err, default=float("nan")), "text_pages": rot_n,
            "rotation_ok": rot_ok, "methods": methods, "blanks": blanks, "blank_found": found_blank,
            "false_blanks": false_blank, "qr_pages": qr_n, "qr_found": qr_ok, "wrong": wrong}


def main() -> int:
    count = int(os.environ.get("SOHOA_BENCH_PAGES", "60"))
    folder = Path(os.environ.get("SOHOA_BENCH_DIR", "/tmp/sohoa-bench-processing"))
    t = time.monotonic()
    pages = make_processing_set(folder, count=count)
    print(f"eval set: {len(pages)} pages A4 300 dpi colour in {folder} ({time.monotonic() - t:.0f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        results, wall, peak = run_pool(pages, out)
        unpaper_wall, unpaper_rss = run_unpaper(pages, out)
    acc = evaluate(pages, results)
    cpu_dec = statistics.mean(r["cpu_decode"] for r in results)
    cpu_proc = statistics.mean(r["cpu_process"] for r in results)
    n = len(pages)
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print(f"skew error: median {acc['skew_median']:.3f}°, p95 {acc['skew_p95']:.3f}°, max {acc['skew_max']:.3f}° "
          f"over {acc['text_pages']} text pages")
    print(f"rotation: {acc['rotation_ok']}/{acc['text_pages']} right; methods {acc['methods']}")
    print(f"blank: {acc['blank_found']}/{acc['blanks']} blanks found, {acc['false_blanks']} content pages "
          "called blank")
    print(f"QR sheets: {acc['qr_found']}/{acc['qr_pages']} found and recognised")
    print(f"speed (pool of {WORKERS}, PNG decode included): {n / wall * 60:.0f} pages/min "
          f"({wall / n:.3f} s/page wall)")
    print(f"CPU per page in a worker: decode {cpu_dec:.3f} s, processing {cpu_proc:.3f} s "
          f"-> processing alone on {WORKERS} cores: {WORKERS * 60 / cpu_proc:.0f} pages/min")
    print(f"unpaper (deskew + borders, {WORKERS} at a time): {n / unpaper_wall * 60:.0f} pages/min; "
          f"sohoa is {unpaper_wall / wall:.1f}x faster")
    print(f"peak RSS per worker: sohoa {peak:.0f} MB, unpaper {unpaper_rss:.0f} MB")
    for line in acc["wrong"]:
        print("  miss:", line)
    return 0
