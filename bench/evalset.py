"""A labelled evaluation set: generated Vietnamese pages with known text, skew, rotation and blankness.

Deterministic: the same (count, seed, dpi, blank_share) always gives the same pixels and labels, so two
runs (or two engineers) measure the same pages. Built on `sohoa.samplepages.render_page`; blank pages are
aged, noisy paper with faint bleed-through of a mirrored text page (they must still count as blank).

    from bench.evalset import make_evalset
    pages = make_evalset(Path("/tmp/eval"), count=12)   # reuses the folder when its manifest matches
    pages[0].path, pages[0].truth, pages[0].skew_deg, pages[0].upright_rotation, pages[0].blank

`python -m bench.evalset FOLDER [COUNT]` writes a set and prints its manifest.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sohoa.samplepages import render_page

MANIFEST = "manifest.json"
VERSION = 1  # bump when the drawing changes, so cached sets are rebuilt


@dataclass(frozen=True)
class EvalPage:
    index: int
    seed: int
    path: Path
    dpi: int
    truth: str  # NFC ground truth, one line per drawn line; "" for a blank page
    skew_deg: float  # counter-clockwise tilt applied to the page
    rotate: int  # counter-clockwise quarter turn applied (0, 90, 180, 270), as a sheet fed the wrong way
    yellow: bool
    noise: float  # grey noise standard deviation, 0..1
    blank: bool

    @property
    def upright_rotation(self) -> int:
        """Clockwise rotation that makes the page upright (the convention of station.processing.steps)."""
        return self.rotate % 360


def _labels(index: int, seed: int, *, max_skew: float, blank_share: float) -> dict:
    rng = random.Random(seed * 7919 + index)
    # A fixed pattern rather than chance, so even a 12-page set has every case: 3 pages in 8 are turned
    # (90, 180, 270), the rest upright.
    rotate = (0, 90, 0, 180, 0, 0, 270, 0)[index % 8]
    return {
        "skew_deg": round(rng.uniform(-max_skew, max_skew), 2),
        "rotate": rotate,
        "yellow": rng.random() < 0.7,
        "noise": rng.choice((0.0, 0.03, 0.06)),
        "blank": rng.random() < blank_share,
    }


def _blank_page(seed: int, dpi: int, *, yellow: bool, noise: float, skew_deg: float) -> Image.Image:
    """Empty paper with 6% bleed-through of a mirrored text page (the back side showing through)."""
    back, _ = render_page(seed=seed, dpi=dpi, skew_deg=-skew_deg)
    ink = 255.0 - np.asarray(back.transpose(Image.Transpose.FLIP_LEFT_RIGHT).convert("L"), dtype=np.float32)
    paper = np.full((*ink.shape, 3), 255.0, dtype=np.float32)
    if yellow:
        paper *= np.array([245, 232, 190], dtype=np.float32) / 255.0
    paper -= (ink * 0.06)[..., None]
    if noise:
        paper += np.random.default_rng(seed).normal(0.0, noise * 255.0, size=ink.shape)[..., None]
    return Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))


def _manifest_key(count: int, seed: int, dpi: int, blank_share: float, max_skew: float) -> dict:
    return {"version": VERSION, "count": count, "seed": seed, "dpi": dpi, "blank_share": blank_share,
            "max_skew": max_skew}


def load_evalset(folder: Path) -> list[EvalPage]:
    """The pages listed in `folder`/manifest.json."""
    folder = Path(folder)
    data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    pages = []
    for item in data["pages"]:
        path = folder / item.pop("file")
        truth = path.with_suffix(".txt").read_text(encoding="utf-8").rstrip("\n")
        pages.append(EvalPage(path=path, truth=truth, **item))
    return pages


def make_evalset(folder: Path, *, count: int = 12, seed: int = 1000, dpi: int = 300,
                 blank_share: float = 0.0, max_skew: float = 3.0) -> list[EvalPage]:
    """Write `count` labelled pages (PNG with DPI, truth .txt, manifest.json) into `folder`, or reuse them.

    Page i is drawn from seed `seed + i`: skew uniform in ±`max_skew`°, 3 pages in 8 turned by 90/180/270°,
    70% yellowed, noise 0/3/6%, and a share `blank_share` of blank pages (bleed-through only).
    """
    folder = Path(folder)
    key = _manifest_key(count, seed, dpi, blank_share, max_skew)
    manifest = folder / MANIFEST
    if manifest.is_file():
        try:
            if json.loads(manifest.read_text(encoding="utf-8")).get("key") == key:
                return load_evalset(folder)
        except (ValueError, KeyError, OSError):
            pass  # damaged or older set: write it again
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(count):
        page_seed = seed + index
        labels = _labels(index, seed, max_skew=max_skew, blank_share=blank_share)
        if labels["blank"]:
            image = _blank_page(page_seed, dpi, yellow=labels["yellow"], noise=labels["noise"],
                                skew_deg=labels["skew_deg"])
            if labels["rotate"]:
                image = image.rotate(labels["rotate"], expand=True)
            truth = ""
        else:
            image, truth = render_page(seed=page_seed, dpi=dpi, **{k: v for k, v in labels.items() if k != "blank"})
        name = f"page-{index + 1:04d}.png"
        image.save(folder / name, dpi=(dpi, dpi), compress_level=1)
        (folder / name).with_suffix(".txt").write_text(truth + "\n", encoding="utf-8")
        entries.append({"file": name, "index": index, "seed": page_seed, "dpi": dpi, **labels})
    manifest.write_text(json.dumps({"key": key, "pages": entries}, ensure_ascii=False, indent=1),
                        encoding="utf-8")
    return load_evalset(folder)


# -- shared by the benchmarks: where a result was measured, and writing it into a results page ------

def machine() -> str:
    """'2 cores (nproc), AMD EPYC, load 1.2 2.0 2.1, 2026-11-20 14:30 +07:00': numbers mean little without it."""
    import os
    from datetime import datetime

    from protocol.clock import VN_TZ

    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    when = datetime.now(VN_TZ).strftime("%Y-%m-%d %H:%M %z")
    return f"{os.cpu_count()} cores (nproc), {model}, load average {load}, {when}"


def write_section(doc: Path, name: str, body: str) -> None:
    """Replace the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in `doc` (appended when
    missing), so each benchmark rewrites only its own part of the results page."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    doc = Path(doc)
    text = doc.read_text(encoding="utf-8") if doc.is_file() else ""
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m bench.evalset FOLDER [COUNT] [BLANK_SHARE]", file=sys.stderr)
        return 2
    count = int(argv[1]) if len(argv) > 1 else 12
    blank_share = float(argv[2]) if len(argv) > 2 else 0.0
    for page in make_evalset(Path(argv[0]), count=count, blank_share=blank_share):
        row = asdict(page)
        row.pop("truth")
        print(json.dumps({**row, "path": str(page.path)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
