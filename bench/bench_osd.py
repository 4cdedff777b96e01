"""Tesseract OSD kept loaded (station.output.tessworker) against the `tesseract` program, on every page of the
orientation bench's sets (generated and outside: bench/bench_orientation.py builds them, bench/outside_pages.toml
lists the outside pages).

Each page goes through the station's own processing (process_page at 200 dpi, as the orientation bench runs it);
every image the orientation rule gives OSD is asked twice: of the loaded Tesseract, as the station asks it, and of
the program, `tesseract stdin stdout -l osd --psm 0 --dpi D -c min_characters_to_try=M` on the same pixels as
PGM (the station's way before). Every page is also asked whole (min_characters 50) and by its middle quarter (20),
whether the rule asked or not. The answers (rotate, orientation confidence, script; also "orientation in degrees"
and script confidence) must be the same on every image. Also: CPU per ask both ways (the program's from its
rusage; the loaded child's from /proc), and the loaded child's RSS page after page (it must stay steady).

Run: `.venv/bin/python -m bench osd` (about 5 minutes on 2 idle cores; 32 at load 6-12).
Env: SOHOA_BENCH_ORIENT_SEEDS, SOHOA_BENCH_CACHE.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench.bench_orientation import build_cases
from bench.processing_evalset import CACHE

FIELDS = ("rotate", "confidence", "script", "degrees", "script_confidence")
PROGRAM_FIELDS = {
    "Rotate": ("rotate", int),
    "Orientation confidence": ("confidence", float),
    "Script": ("script", str),
    "Orientation in degrees": ("degrees", int),
    "Script confidence": ("script_confidence", float),
}


def program_osd(g: np.ndarray, *, dpi: int, min_characters: int) -> tuple[dict | None, float]:
    """The program's answer (None: "Too few characters") and its CPU seconds."""
    from station.output.ocr import TESSERACT, pgm_bytes

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [TESSERACT, "stdin", "stdout", "-l", "osd", "--psm", "0", "--dpi", str(dpi)]
        + ["-c", f"min_characters_to_try={min_characters}"],
        input=pgm_bytes(g),
        capture_output=True,
        timeout=120,
        env=dict(os.environ, OMP_THREAD_LIMIT="1"),
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    lines = dict(line.split(":", 1) for line in proc.stdout.decode().splitlines() if ":" in line)
    if proc.returncode != 0 or "Rotate" not in lines:
        return None, cpu
    return {key: kind(lines[name].strip()) for name, (key, kind) in PROGRAM_FIELDS.items()}, cpu


def _child_cpu_rss(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss / 1024


def _init() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import cv2

    cv2.setNumThreads(1)


def _compare(g: np.ndarray, dpi: int, min_characters: int, origin: str) -> dict:
    from station.output.tessworker import engine
    from station.processing import steps

    with engine("osd") as loaded:
        pid = loaded.proc.pid
    cpu0, _ = _child_cpu_rss(pid)
    mine = steps.osd(g, dpi=dpi, min_characters=min_characters, timeout=120)
    cpu1, rss = _child_cpu_rss(pid)  # the same child, unless it died (then this raises: a failure to see)
    theirs, program_cpu = program_osd(g, dpi=dpi, min_characters=min_characters)
    return {
        "origin": origin,
        "same": mine == theirs,
        "loaded": mine,
        "program": theirs,
        "min_characters": min_characters,
        "loaded_cpu": cpu1 - cpu0,
        "program_cpu": program_cpu,
        "rss_mb": rss,
        "pid": pid,
        "size": list(g.shape),
    }


def _page(path: str) -> list[dict]:
    """Every OSD ask of one page: those of the orientation rule inside process_page, then the page whole and
    its middle quarter."""
    from station.processing import orientation, steps
    from station.processing.pipeline import load_image, process_page

    asked: list[tuple[np.ndarray, int, int]] = []
    station_ask = orientation.detect_orientation

    def recording(
        img: np.ndarray, *, dpi: float, timeout: float = 30.0, min_characters: int = steps.OSD_MIN_CHARACTERS
    ) -> tuple[int, float]:
        g, use_dpi = steps.osd_input(img, dpi=dpi)
        asked.append((g, use_dpi, min_characters))
        return station_ask(img, dpi=dpi, timeout=timeout, min_characters=min_characters)

    orientation.detect_orientation = recording  # records what the rule asks; the answers are the station's own
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = process_page(Path(path), dpi=200, out_path=Path(tmp) / "out.jpg").to_dict()
    finally:
        orientation.detect_orientation = station_ask
    out = [_compare(g, d, m, "rule") for g, d, m in asked]
    g, d = steps.osd_input(load_image(Path(path)), dpi=200)
    h, w = g.shape
    out.append(_compare(g, d, steps.OSD_MIN_CHARACTERS, "whole"))
    centre = np.ascontiguousarray(g[h // 4 : h - h // 4, w // 4 : w - w // 4])
    out.append(_compare(centre, d, 20, "centre"))
    for r in out:
        r["page"], r["rotation"] = Path(path).name, result["rotation"]
    return out


def main() -> int:
    seeds = int(os.environ.get("SOHOA_BENCH_ORIENT_SEEDS", "2"))
    cases = build_cases(CACHE, seeds)
    print(f"load average before: {open('/proc/loadavg').read().strip()}", flush=True)
    started = time.monotonic()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn, initializer=_init) as pool:
        per_page = list(pool.map(_page, [c.path for c in cases]))
    asks = [a for page in per_page for a in page]
    by_origin = {c.path: c.origin for c in cases}
    print(
        f"{len(cases)} pages ({sum(o == 'outside' for o in by_origin.values())} outside, "
        f"{sum(o == 'generated' for o in by_origin.values())} generated), {len(asks)} OSD asks, "
        f"{time.monotonic() - started:.0f} s; load average after: {open('/proc/loadavg').read().strip()}"
    )
    for origin in ("rule", "whole", "centre"):
        mine = [a for a in asks if a["origin"] == origin]
        answered = sum(a["program"] is not None for a in mine)
        print(
            f"  {origin:6s}: {sum(a['same'] for a in mine)}/{len(mine)} identical "
            f"({answered} answered, {len(mine) - answered} too few characters both ways)"
        )
    for kind in ("outside", "generated"):
        mine = [a for page, c in zip(per_page, cases, strict=True) if c.origin == kind for a in page]
        print(f"  {kind} pages: {sum(a['same'] for a in mine)}/{len(mine)} asks identical")
    wrong = [a for a in asks if not a["same"]]
    for a in wrong[:20]:
        print(
            f"  DIFFERENT {a['page']} ({a['origin']}, min {a['min_characters']}): loaded {a['loaded']} "
            f"program {a['program']}"
        )
    loaded_cpu = [a["loaded_cpu"] for a in asks]
    program_cpu = [a["program_cpu"] for a in asks]
    print(
        f"CPU per ask: loaded {statistics.mean(loaded_cpu):.3f} s (median {statistics.median(loaded_cpu):.3f}), "
        f"program {statistics.mean(program_cpu):.3f} s (median {statistics.median(program_cpu):.3f})"
    )
    for pid in sorted({a["pid"] for a in asks}):
        rss = [a["rss_mb"] for a in asks if a["pid"] == pid]
        tenth = rss[min(len(rss) - 1, 9)]
        print(
            f"loaded child {pid}: RSS after ask 1 {rss[0]:.1f} MB, after 10 {tenth:.1f}, after {len(rss)} "
            f"{rss[-1]:.1f}, max {max(rss):.1f} (growth after the 10th ask {rss[-1] - tenth:+.1f} MB)"
        )
    return 1 if wrong else 0
