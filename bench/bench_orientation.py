"""Orientation, skew, blank and quality flags on pages the code's authors did not draw, and on page classes the
rotation set lacks; every page in all four turns.

Outside pages: bench/outside_pages.toml (OCRmyPDF test scans, scikit-image pictures; fetched with pip into
the cache). Generated: bench/orientation_evalset.py (tables, forms, seals, signatures, two columns, short
letters, headings, photographs, one-line pages), each turned 0/90/180/270 and tilted up to 3°.

Goals: upright pages turned 0; pages without text turned 0; rotated text pages put right ≥ 99.5%; content
pages called blank 0; quality flags on clean pages < 2%.

Environment: SOHOA_BENCH_ORIENT_SEEDS (generated pages per class and turn, default 2), SOHOA_BENCH_CACHE.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2

from bench.outside_pages import VERSION as OUTSIDE_VERSION
from bench.outside_pages import fetch_outside_pages, provenance
from bench.processing_evalset import CACHE

QUALITY = {"low_dpi", "skewed", "overexposed", "underexposed", "low_contrast", "blurry", "edge_content"}
TURNS = (0, 90, 180, 270)


@dataclass(frozen=True)
class Case:
    path: str
    origin: str  # "outside" or "generated"
    name: str
    kind: str  # text, short, figure (map or chart: labels, no running text), picture, blank
    fix_rotation: int
    skew_deg: float | None
    clean: bool = True


def _turn(img, turn: int):
    codes = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    return img if turn == 0 else cv2.rotate(img, codes[turn])


def build_cases(cache: Path, seeds: int) -> list[Case]:
    from bench.orientation_evalset import CLASSES, CONTENT_KINDS, draw_page, tilt

    folder = cache / f"orientation-set-{seeds}-v{OUTSIDE_VERSION}"
    manifest = folder / "cases.json"
    if manifest.exists():
        return [Case(**c) for c in json.loads(manifest.read_text())]
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for p in fetch_outside_pages(cache):
        upright = _turn(cv2.imread(str(p.path), cv2.IMREAD_COLOR), p.fix_rotation)
        for turn in TURNS:
            out = folder / f"out-{p.path.stem}-t{turn}.png"
            cv2.imwrite(str(out), _turn(upright, turn))
            skew = None if p.skew_deg is None else p.skew_deg  # a quarter turn keeps the tilt's sign
            cases.append(Case(str(out), "outside", p.source, p.kind, (360 - turn) % 360, skew, p.clean))
    rng = random.Random(13)
    for kind in CLASSES:
        for seed in range(seeds):
            page = draw_page(kind, seed)
            for turn in TURNS:
                skew = 0.0 if turn == 0 and seed == 0 else round(rng.uniform(-3, 3), 2)  # straight upright too
                out = folder / f"gen-{kind}-{seed}-t{turn}.png"
                cv2.imwrite(str(out), _turn(tilt(page, skew), turn))
                kind_of = CONTENT_KINDS.get(kind, "text")
                cases.append(Case(str(out), "generated", f"{kind} {seed}", kind_of, (360 - turn) % 360, skew))
    manifest.write_text(json.dumps([c.__dict__ for c in cases], indent=1))
    return cases


def _init() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    cv2.setNumThreads(1)


def _one(path: str, out: str) -> dict:
    from station.processing.pipeline import process_page

    started = time.process_time()
    r = process_page(Path(path), dpi=200, out_path=Path(out)).to_dict()
    r["cpu"] = time.process_time() - started
    return r


def evaluate(cases: list[Case], results: list[dict]) -> dict:
    upright_turned, picture_turned, rotated_ok, rotated_n, upright_n, picture_n = [], [], 0, 0, 0, 0
    skew_err, blanks, blank_found, false_blank, clean_n, clean_flagged = [], 0, 0, [], 0, []
    wrong, figure_n, figure_right = [], 0, 0
    for c, r in zip(cases, results, strict=True):
        label = f"{Path(c.path).name} ({c.name[:60]})"
        if c.kind == "blank":
            blanks += 1
            blank_found += r["blank"]
            continue
        if r["blank"]:
            false_blank.append(label)
        turned = r["rotation"] != 0
        if c.kind == "figure":  # a turn is not demanded (no running text to judge by); a wrong one is counted
            figure_n += 1
            figure_right += r["rotation"] == c.fix_rotation
            if turned and r["rotation"] != c.fix_rotation:
                picture_turned.append(f"{label}: turned {r['rotation']} ({r['rotation_method']})")
        elif c.kind == "picture":
            picture_n += 1
            if r["rotation"] != c.fix_rotation and turned:
                picture_turned.append(f"{label}: turned {r['rotation']} ({r['rotation_method']})")
        elif c.fix_rotation == 0:
            upright_n += 1
            if turned:
                why = f"{r['rotation']} ({r['rotation_method']}) {r['rotation_evidence']}"
                upright_turned.append(f"{label}: turned {why}")
        elif c.kind == "text":
            rotated_n += 1
            rotated_ok += r["rotation"] == c.fix_rotation
            if r["rotation"] != c.fix_rotation:
                wrong.append(f"{label}: rotation {r['rotation']} want {c.fix_rotation} ({r['rotation_method']})")
        if c.skew_deg is not None and c.kind == "text":
            skew_err.append(abs(r["angle"] - c.skew_deg))
        if c.kind in ("text", "short") and c.clean:
            clean_n += 1
            codes = sorted({f["code"] for f in r["flags"]} & QUALITY)
            if codes:
                clean_flagged.append(f"{label}: {codes}")
    skew_err.sort()
    return {
        "upright_n": upright_n,
        "upright_turned": upright_turned,
        "picture_n": picture_n,
        "picture_turned": picture_turned,
        "figure_n": figure_n,
        "figure_right": figure_right,
        "rotated_n": rotated_n,
        "rotated_ok": rotated_ok,
        "skew_median": statistics.median(skew_err) if skew_err else float("nan"),
        "skew_p95": skew_err[round(0.95 * (len(skew_err) - 1))] if skew_err else float("nan"),
        "skew_n": len(skew_err),
        "blanks": blanks,
        "blank_found": blank_found,
        "false_blank": false_blank,
        "clean_n": clean_n,
        "clean_flagged": clean_flagged,
        "wrong": wrong,
    }


OUT: list[str] = []  # what the bench printed, for docs/bench/orientation.md


def say(line: str = "") -> None:
    print(line, flush=True)
    OUT.append(line)


def report(title: str, acc: dict) -> bool:
    rot = 100.0 * acc["rotated_ok"] / acc["rotated_n"] if acc["rotated_n"] else float("nan")
    flagged = 100.0 * len(acc["clean_flagged"]) / acc["clean_n"] if acc["clean_n"] else 0.0
    say(f"{title}:")
    say(f"  upright pages turned: {len(acc['upright_turned'])}/{acc['upright_n']} (goal 0)")
    say(
        f"  pages without text turned: {len(acc['picture_turned'])}/{acc['picture_n'] + acc['figure_n']} (goal 0; "
        f"maps and charts included: {acc['figure_right']}/{acc['figure_n']} of them end upright)"
    )
    say(f"  rotated text pages put right: {acc['rotated_ok']}/{acc['rotated_n']} ({rot:.1f}%, goal ≥ 99.5%)")
    say(f"  skew error: median {acc['skew_median']:.3f}°, p95 {acc['skew_p95']:.3f}° over {acc['skew_n']} pages")
    say(
        f"  blank found: {acc['blank_found']}/{acc['blanks']}; content pages called blank: "
        f"{len(acc['false_blank'])} (goal 0)"
    )
    say(f"  quality flags on clean pages: {len(acc['clean_flagged'])}/{acc['clean_n']} ({flagged:.1f}%, goal < 2%)")
    for key in ("upright_turned", "picture_turned", "wrong", "false_blank", "clean_flagged"):
        for line in acc[key][:12]:
            say(f"    {key}: {line}")
    return (
        not acc["upright_turned"]
        and not acc["picture_turned"]
        and not acc["false_blank"]
        and (not acc["rotated_n"] or rot >= 99.5)
        and flagged < 2.0
    )


def main() -> int:
    seeds = int(os.environ.get("SOHOA_BENCH_ORIENT_SEEDS", "2"))
    workers = os.cpu_count() or 1
    t = time.monotonic()
    try:
        cases = build_cases(CACHE, seeds)
    except Exception as exc:  # noqa: BLE001 - no network for the outside data: say so and fail
        say(f"orientation set: cannot fetch the outside pages ({exc}); needs network once (pip download)")
        return 1
    say(f"orientation set: {len(cases)} pages in {CACHE} ({time.monotonic() - t:.0f} s to make or find)")
    say(f"outside data: {provenance()}")
    say(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    # spawn, not fork: this process ran OpenCV (its threads' locks would be copied held into a forked worker)
    spawn = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=spawn, initializer=_init)
    with tempfile.TemporaryDirectory() as tmp, pool:
        t = time.monotonic()
        futures = [pool.submit(_one, c.path, str(Path(tmp) / f"{i}.jpg")) for i, c in enumerate(cases)]
        results = [f.result() for f in futures]
        wall = time.monotonic() - t
    cpu = [r["cpu"] for r in results]
    say(
        f"processed {len(cases)} pages in {wall:.0f} s on {workers} workers; CPU per page median "
        f"{statistics.median(cpu):.2f} s, max {max(cpu):.2f} s"
    )
    ok = True
    for origin in ("outside", "generated"):
        picked = [(c, r) for c, r in zip(cases, results, strict=True) if c.origin == origin]
        ok &= report(f"{origin} pages", evaluate([c for c, _ in picked], [r for _, r in picked]))
    ok &= report("all pages", evaluate(cases, results))
    say(f"goals {'met' if ok else 'NOT met'}")
    default = Path(__file__).resolve().parent.parent / "docs" / "bench" / "orientation.md"
    doc = os.environ.get("BENCH_DOC", str(default))
    if doc != "-":
        from bench.evalset import machine, write_section

        title = "## Orientation, blank and flags on outside and generated pages (`python -m bench orientation`)"
        body = "\n".join([title, "", f"Machine: {machine()}.", "", "```", *OUT, "```"])
        write_section(Path(doc), "orientation", body)
    return 0 if ok else 1
